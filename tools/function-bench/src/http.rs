//! The small part of HTTP/1.1 the Lambda Runtime API needs: requests with a
//! `Content-Length` or chunked body, on keep-alive connections, and
//! responses with a known length. The runtime client (hyper) speaks nothing
//! more exotic to the Runtime API.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest request head accepted; the runtime's heads are a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted: Lambda's limit for a response is 6 MB; the margin
/// covers error reports with long stack traces.
const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target without the query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// One line including its `\n`, bounded by `limit` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, limit: usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut bounded = (&mut *reader).take(limit as u64);
    bounded.read_until(b'\n', &mut line).await?;
    if !line.ends_with(b"\n") {
        if line.is_empty() {
            return Ok(line);
        }
        return Err(if line.len() >= limit {
            invalid("request line or header too long")
        } else {
            io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-line")
        });
    }
    Ok(line)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads one request. `Ok(None)` when the peer closed the connection
/// cleanly between requests.
pub async fn read_request<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Option<Request>> {
    let mut head_bytes = 0;
    let request_line = loop {
        let line = read_line(reader, MAX_HEAD).await?;
        if line.is_empty() {
            return Ok(None);
        }
        head_bytes += line.len();
        // RFC 9112 2.2: ignore empty lines before the request line.
        if !trim_eol(&line).is_empty() {
            break line;
        }
    };
    let request_line = std::str::from_utf8(trim_eol(&request_line))
        .map_err(|_| invalid("request line is not UTF-8"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("malformed request line {request_line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("unsupported version {version:?}")));
    }
    let path = target.split('?').next().unwrap_or(target).to_owned();

    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, MAX_HEAD).await?;
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the request head",
            ));
        }
        head_bytes += line.len();
        if head_bytes > MAX_HEAD {
            return Err(invalid("request head too long"));
        }
        let line = trim_eol(&line);
        if line.is_empty() {
            break;
        }
        let line = std::str::from_utf8(line).map_err(|_| invalid("header is not UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("malformed header {line:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }

    let mut request = Request {
        method: method.to_owned(),
        path,
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(reader).await?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
        if length > MAX_BODY {
            return Err(invalid(format!("body of {length} bytes is too large")));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        request.body = body;
    }
    Ok(Some(request))
}

async fn read_chunked<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, 1024).await?;
        let line = std::str::from_utf8(trim_eol(&line)).map_err(|_| invalid("bad chunk size"))?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_hex:?}")))?;
        if size == 0 {
            // Trailers (the runtime's streaming error trailers) up to the
            // empty line; they are not needed here.
            loop {
                let trailer = read_line(reader, MAX_HEAD).await?;
                if trailer.is_empty() || trim_eol(&trailer).is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("chunked body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        let end = read_line(reader, 2).await?;
        if trim_eol(&end) != b"" {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

/// A response to write.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// Writes `response`; `close` adds `Connection: close`.
pub async fn write_response<W: AsyncWrite + Unpin>(
    writer: &mut W,
    response: &Response,
    close: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes()).await?;
    writer.write_all(&response.body).await?;
    writer.flush().await
}

/// Whether the connection should be closed after answering `request`.
pub fn closes_after(request: &Request) -> bool {
    request.wants_close()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> io::Result<Vec<Request>> {
        let mut reader = bytes;
        let mut out = Vec::new();
        while let Some(request) = read_request(&mut reader).await? {
            out.push(request);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn reads_keep_alive_requests_with_length_and_chunked_bodies() {
        let wire = b"GET /2018-06-01/runtime/invocation/next?x=1 HTTP/1.1\r\nHost: a\r\n\r\n\
POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}\
POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer-A: x\r\n\r\n";
        let requests = parse(wire).await.unwrap();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].path, "/2018-06-01/runtime/invocation/next");
        assert_eq!(requests[0].header("HOST"), Some("a"));
        assert!(requests[0].body.is_empty());
        assert_eq!(
            requests[1].path,
            "/2018-06-01/runtime/invocation/r1/response"
        );
        assert_eq!(requests[1].body, b"{}");
        assert_eq!(requests[2].body, b"abcde");
    }

    #[tokio::test]
    async fn rejects_broken_requests() {
        assert!(parse(b"GET /\r\n\r\n").await.is_err());
        assert!(parse(b"GET / HTTP/2\r\n\r\n").await.is_err());
        assert!(parse(b"GET / HTTP/1.1\r\nno-colon\r\n\r\n").await.is_err());
        assert!(parse(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
            .await
            .is_err());
        assert!(parse(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            .await
            .is_err());
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a").await.is_err());
        assert!(parse(b"").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn writes_a_response_with_its_length() {
        let mut out = Vec::new();
        let response = Response::json(202, "{}").header("X-A", "1");
        write_response(&mut out, &response, true).await.unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nX-A: 1\r\n\
Content-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
    }
}
