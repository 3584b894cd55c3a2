//! The client side of gRPC server reflection: fetches the file that defines a service, with
//! its dependencies, into a [`DescriptorPool`]. Asks `grpc.reflection.v1` first and falls
//! back to `v1alpha`, which many servers (grpcio's among them) still serve alone.

use prost::Message;
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};
use tonic::transport::Channel;

/// One reflection exchange with the generated client of `$v` (`v1` or `v1alpha`): the
/// serialized files answering `FileContainingSymbol(service)`, or the call's status.
macro_rules! files_of {
    ($v:ident, $channel:expr, $service:expr) => {{
        use tonic_reflection::pb::$v::ServerReflectionRequest;
        use tonic_reflection::pb::$v::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$v::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$v::server_reflection_response::MessageResponse;
        async {
            let mut client = ServerReflectionClient::new($channel);
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::FileContainingSymbol($service.to_string())),
            };
            let mut stream =
                client.server_reflection_info(futures_util::stream::iter([request])).await?.into_inner();
            match stream.message().await?.and_then(|m| m.message_response) {
                Some(MessageResponse::FileDescriptorResponse(files)) => Ok(files.file_descriptor_proto),
                Some(MessageResponse::ErrorResponse(e)) => Err(tonic::Status::not_found(e.error_message)),
                _ => Err(tonic::Status::unknown("unexpected reflection answer")),
            }
        }
    }};
}

/// Why reflection gave no descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReflectionError {
    pub reason: String,
    /// The server answered, and the answer will not change (no reflection service, unknown
    /// service, broken descriptors): asking again would only load it. A transport failure
    /// (unavailable, deadline) is worth retrying on the next call.
    pub permanent: bool,
}

impl ReflectionError {
    pub(crate) fn permanent(reason: String) -> Self {
        ReflectionError { reason, permanent: true }
    }
}

/// Asks the server behind `channel` for the descriptors of `service` (`package.Service`).
pub(crate) async fn resolve(channel: Channel, service: &str) -> Result<DescriptorPool, ReflectionError> {
    let files = match files_of!(v1, channel.clone(), service).await {
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            files_of!(v1alpha, channel, service).await
        }
        other => other,
    }
    .map_err(|s| {
        use tonic::Code as C;
        let transient = matches!(
            s.code(),
            C::Unavailable | C::DeadlineExceeded | C::Cancelled | C::ResourceExhausted | C::Aborted
        );
        ReflectionError {
            reason: format!("reflection: {:?}: {}", s.code(), s.message()),
            permanent: !transient,
        }
    })?;
    let file = files
        .iter()
        .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReflectionError::permanent(format!("reflection: invalid descriptor: {e}")))?;
    DescriptorPool::from_file_descriptor_set(FileDescriptorSet { file })
        .map_err(|e| ReflectionError::permanent(format!("reflection: invalid descriptors: {e}")))
}
