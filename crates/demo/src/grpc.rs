//! The demo's gRPC services, on a port of their own (plaintext HTTP/2): a speech-to-text
//! `speech.v1.Speech` with `Recognize` (unary) and `Transcribe` (client streaming: audio
//! chunks in, one transcript out), an LLM `llm.v1.Generate` with `Stream` (server-streaming
//! tokens at a requested rate) and `Chat` (bidirectional: one reply per message, as each
//! arrives), the standard `grpc.health.v1.Health` and server reflection, so that clients can
//! call everything without a `.proto` file.
//!
//! The services are generated from `proto/` by `build.rs` (protox, no protoc).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

#[allow(missing_docs, clippy::all)]
mod pb {
    pub mod speech {
        tonic::include_proto!("speech.v1");
    }
    pub mod llm {
        tonic::include_proto!("llm.v1");
    }
}

use pb::llm::generate_server::{Generate, GenerateServer};
use pb::llm::{ChatMessage, ChatReply, GenerateRequest, Token};
use pb::speech::speech_server::{Speech, SpeechServer};
use pb::speech::{AudioChunk, RecognizeRequest, RecognizeResponse, TranscribeResponse};

/// The encoded descriptors of the demo's own services, for reflection.
const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demo_descriptor.bin"));

/// Caps, so that no request can keep the demo busy for long.
const MAX_DELAY: Duration = Duration::from_secs(10);
const MAX_TOKENS: u32 = 1000;
const MAX_RATE: u32 = 10_000;

/// Words the demo "recognizes" and "generates".
const WORDS: &[&str] = &["hello", "from", "the", "stampede", "demo", "target", "speaking", "now"];

#[derive(Debug, Default)]
struct SpeechService;

#[tonic::async_trait]
impl Speech for SpeechService {
    async fn recognize(
        &self,
        request: Request<RecognizeRequest>,
    ) -> Result<Response<RecognizeResponse>, Status> {
        let req = request.into_inner();
        let Some(id) = req.audio_uri.strip_prefix("demo://") else {
            return Err(Status::not_found(format!("unknown audio {:?}: use demo://<n>", req.audio_uri)));
        };
        let n: usize = id.parse().map_err(|_| Status::invalid_argument("demo://<n> needs a number"))?;
        if req.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(req.delay_ms)).min(MAX_DELAY)).await;
        }
        // `demo://1` is "hello", `demo://2` "hello from", ...: a deterministic transcript.
        let words = n.clamp(1, WORDS.len());
        let text = WORDS[..words].join(" ");
        let language = if req.language.is_empty() { "en".to_string() } else { req.language };
        Ok(Response::new(RecognizeResponse { text, language, confidence: 0.9, words: words as u32 }))
    }

    async fn transcribe(
        &self,
        request: Request<Streaming<AudioChunk>>,
    ) -> Result<Response<TranscribeResponse>, Status> {
        let mut audio = request.into_inner();
        let (mut chunks, mut audio_bytes) = (0u32, 0u32);
        let mut language = String::new();
        while let Some(chunk) = audio.message().await? {
            chunks = chunks.saturating_add(1);
            audio_bytes = audio_bytes.saturating_add(u32::try_from(chunk.audio.len()).unwrap_or(u32::MAX));
            if language.is_empty() {
                language = chunk.language;
            }
            if chunk.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(u64::from(chunk.delay_ms)).min(MAX_DELAY)).await;
            }
        }
        if chunks == 0 {
            return Err(Status::invalid_argument("no audio: send at least one chunk"));
        }
        // One word per chunk, as `Recognize` gives one per `demo://<n>`: a checkable transcript.
        let words = (chunks as usize).min(WORDS.len());
        let text = WORDS[..words].join(" ");
        if language.is_empty() {
            language = "en".to_string();
        }
        Ok(Response::new(TranscribeResponse { text, language, chunks, audio_bytes }))
    }
}

#[derive(Debug, Default)]
struct GenerateService;

#[tonic::async_trait]
impl Generate for GenerateService {
    type StreamStream = ReceiverStream<Result<Token, Status>>;

    async fn stream(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let req = request.into_inner();
        let count = if req.max_tokens == 0 { 16 } else { req.max_tokens.min(MAX_TOKENS) };
        let rate = if req.tokens_per_second == 0 { 50 } else { req.tokens_per_second.min(MAX_RATE) };
        let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            for index in 0..count {
                if index > 0 {
                    tokio::time::sleep(gap).await;
                }
                let text = format!("{} ", WORDS[index as usize % WORDS.len()]);
                let token = Token { index, text, last: index + 1 == count };
                // The client went away: stop generating.
                if tx.send(Ok(token)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type ChatStream = ReceiverStream<Result<ChatReply, Status>>;

    async fn chat(
        &self,
        request: Request<Streaming<ChatMessage>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut seq = 0u32;
            loop {
                let reply = match inbound.message().await {
                    Ok(Some(message)) => {
                        seq = seq.saturating_add(1);
                        if message.delay_ms > 0 {
                            let delay = Duration::from_millis(u64::from(message.delay_ms)).min(MAX_DELAY);
                            tokio::time::sleep(delay).await;
                        }
                        Ok(ChatReply { id: message.id, text: format!("you said: {}", message.text), seq })
                    }
                    // The client half-closed: the call ends with OK once the replies are out.
                    Ok(None) => break,
                    Err(status) => Err(status),
                };
                let is_error = reply.is_err();
                // The client went away, or its stream broke: stop answering.
                if tx.send(reply).await.is_err() || is_error {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Binds `addr` and serves the gRPC services until `shutdown` resolves.
pub(crate) async fn start(
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<SpeechServer<SpeechService>>().await;
    reporter.set_serving::<GenerateServer<GenerateService>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTORS)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(std::io::Error::other)?;
    // Streamed tokens are small writes: Nagle would hold them back by up to 40 ms.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(async move {
        // The reporter must live as long as the server, or the health service stops updating.
        let _reporter = reporter;
        let _ = tonic::transport::Server::builder()
            .add_service(health)
            .add_service(reflection)
            .add_service(SpeechServer::new(SpeechService))
            .add_service(GenerateServer::new(GenerateService))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
    });
    Ok((addr, task))
}
