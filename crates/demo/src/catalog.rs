//! The fixed tool catalog behind `/api/v1/tools`: static data, so listing it allocates only
//! the response.

use serde::Serialize;

/// One entry of the catalog.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Tool {
    pub name: &'static str,
    pub version: &'static str,
    pub category: &'static str,
    pub enabled: bool,
    pub description: &'static str,
}

const fn tool(
    name: &'static str,
    version: &'static str,
    category: &'static str,
    description: &'static str,
) -> Tool {
    Tool { name, version, category, enabled: true, description }
}

const fn disabled(mut t: Tool) -> Tool {
    t.enabled = false;
    t
}

pub(crate) static TOOLS: [Tool; 30] = [
    tool("curl", "8.11.1", "http", "Transfers data with URLs from the command line"),
    tool("wrk", "4.2.0", "load", "Modern HTTP benchmarking tool with Lua scripting"),
    tool("k6", "0.55.0", "load", "Scriptable load testing tool for developers"),
    tool("locust", "2.32.4", "load", "Load testing with users defined in Python code"),
    tool("vegeta", "12.12.0", "load", "Constant-rate HTTP load testing tool and library"),
    tool("hey", "0.1.4", "load", "Tiny program that sends some load to a web application"),
    disabled(tool("ab", "2.3", "load", "Apache HTTP server benchmarking tool")),
    tool("oha", "1.5.0", "load", "HTTP load generator with a realtime TUI"),
    tool("grpcurl", "1.9.2", "grpc", "Like curl, but for gRPC servers"),
    tool("ghz", "0.120.0", "grpc", "Load testing and benchmarking tool for gRPC"),
    tool("websocat", "1.14.0", "websocket", "Netcat-like client for WebSockets"),
    tool("jq", "1.7.1", "json", "Lightweight command-line JSON processor"),
    tool("httpie", "3.2.4", "http", "Human-friendly HTTP client for the API era"),
    tool("mitmproxy", "11.0.2", "proxy", "Interactive TLS-capable intercepting HTTP proxy"),
    tool("toxiproxy", "2.11.0", "chaos", "TCP proxy to simulate network and system conditions"),
    disabled(tool("tc-netem", "6.1.0", "chaos", "Linux network emulator for delay and loss")),
    tool("prometheus", "3.1.0", "metrics", "Monitoring system and time series database"),
    tool("grafana", "11.4.0", "metrics", "Dashboards for metrics, logs and traces"),
    tool("jaeger", "2.2.0", "tracing", "Distributed tracing platform"),
    tool("otel-collector", "0.117.0", "tracing", "Vendor-agnostic telemetry pipeline"),
    tool("nginx", "1.27.3", "server", "HTTP server and reverse proxy"),
    tool("envoy", "1.32.3", "proxy", "Cloud-native high-performance edge and service proxy"),
    tool("haproxy", "3.1.2", "proxy", "Reliable high-performance TCP and HTTP load balancer"),
    tool("tcpdump", "4.99.5", "network", "Command-line packet analyzer"),
    tool("wireshark", "4.4.3", "network", "Network protocol analyzer with a graphical interface"),
    disabled(tool("iperf3", "3.18", "network", "Measures maximum achievable network bandwidth")),
    tool("perf", "6.12", "profiling", "Linux profiling with performance counters"),
    tool("flamegraph", "0.6.7", "profiling", "Turns sampled stacks into flame graph SVGs"),
    tool("sqlite", "3.47.2", "storage", "Self-contained embedded SQL database engine"),
    tool("redis", "7.4.2", "storage", "In-memory data store used as cache and broker"),
];

/// Finds a tool by exact name.
pub(crate) fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Whether the tool's name or description contains `needle_lower` (already lowercased).
pub(crate) fn matches(tool: &Tool, needle_lower: &str) -> bool {
    contains_ignore_case(tool.name, needle_lower) || contains_ignore_case(tool.description, needle_lower)
}

/// ASCII case-insensitive substring test that allocates nothing; the catalog is ASCII, so a
/// non-ASCII needle simply never matches.
fn contains_ignore_case(haystack: &str, needle_lower: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle_lower.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}
