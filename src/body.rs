//! The one body type that flows through the proxy in both directions.
//!
//! Request and response bodies are streamed, never collected, unless a stage
//! needs the whole thing; boxing keeps the pipeline's types simple.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed body of bytes whose errors are boxed.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// Marks a response whose body vcproxy already holds whole (upstream is done with it), so
/// its seats can go back at once instead of when the client has read it.
#[derive(Debug, Clone, Copy)]
pub struct InMemory;

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Boxes any body whose errors can be boxed.
pub fn boxed<B>(body: B) -> ProxyBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// A response body that fails once its request's deadline passes: a request that is not
/// long-running is bounded as a whole, body included, as kube-apiserver's timeout filter
/// bounds it. A body cut this way ends with an error, so the client sees a reset stream
/// (HTTP/2) or a closed connection (HTTP/1.1), never a hang or a short body taken as whole.
pub struct Deadline {
    inner: ProxyBody,
    at: std::pin::Pin<Box<tokio::time::Sleep>>,
    limit: std::time::Duration,
}

impl Deadline {
    pub fn new(inner: ProxyBody, at: tokio::time::Instant, limit: std::time::Duration) -> Deadline {
        Deadline { inner, at: Box::pin(tokio::time::sleep_until(at)), limit }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        use std::future::Future;
        if let std::task::Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            return std::task::Poll::Ready(frame);
        }
        match self.at.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Some(Err(format!(
                "the response did not complete within the request's {}s deadline: the super apiserver was too slow",
                self.limit.as_secs_f64()
            )
            .into()))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Reads a whole request body, refusing more than `limit` bytes (kube-apiserver
/// refuses bodies over 3 MiB; vcproxy does the same before buffering).
pub async fn collect_limited<B>(body: B, limit: usize) -> Result<Bytes, crate::error::ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(crate::error::ApiError::payload_too_large(format!("the request body is larger than {limit} bytes")))
        }
        Err(e) => Err(crate::error::ApiError::bad_request(format!("reading the request body: {e}"))),
    }
}

/// Rewrites a streamed body chunk by chunk as it flows, without buffering it
/// whole. Backpressure and cancellation come for free: nothing is read from
/// upstream until the client reads, and dropping this drops upstream.
pub trait ChunkRewriter: Send + 'static {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), BoxError>;
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), BoxError>;
}

pub struct Rewritten<B, R> {
    inner: B,
    rewriter: R,
    finished: bool,
}

impl<B, R> Rewritten<B, R> {
    pub fn new(inner: B, rewriter: R) -> Self {
        Rewritten { inner, rewriter, finished: false }
    }
}

impl<B, R> http_body::Body for Rewritten<B, R>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    R: ChunkRewriter + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let mut out = Vec::new();
                        if let Err(e) = this.rewriter.push(&data, &mut out) {
                            this.finished = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(out)))));
                        }
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))), // trailers pass through
                },
                Poll::Ready(None) => {
                    this.finished = true;
                    let mut out = Vec::new();
                    if let Err(e) = this.rewriter.finish(&mut out) {
                        return Poll::Ready(Some(Err(e)));
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(out)))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

/// Splits a stream of newline-delimited JSON documents (a watch) and hands each
/// complete line to `f`, which appends what to send to `out`.
pub struct JsonLines<F> {
    buf: Vec<u8>,
    f: F,
    max_line: usize,
}

impl<F> JsonLines<F>
where
    F: FnMut(&[u8], &mut Vec<u8>) -> Result<(), BoxError> + Send + 'static,
{
    pub fn new(max_line: usize, f: F) -> Self {
        JsonLines { buf: Vec::new(), f, max_line }
    }
}

impl<F> ChunkRewriter for JsonLines<F>
where
    F: FnMut(&[u8], &mut Vec<u8>) -> Result<(), BoxError> + Send + 'static,
{
    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), BoxError> {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(i) = self.buf[start..].iter().position(|b| *b == b'\n') {
            let line = &self.buf[start..start + i];
            if !line.iter().all(u8::is_ascii_whitespace) {
                (self.f)(line, out)?;
            }
            start += i + 1;
        }
        self.buf.drain(..start);
        if self.buf.len() > self.max_line {
            return Err(format!("a watch event is larger than {} bytes", self.max_line).into());
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), BoxError> {
        let rest = std::mem::take(&mut self.buf);
        if !rest.iter().all(u8::is_ascii_whitespace) {
            (self.f)(&rest, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::time::Duration;

    /// A body that sends one chunk and then never another (an upstream that hung mid-body).
    fn hangs_after_one_chunk() -> ProxyBody {
        let chunks = futures_util::stream::iter([Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(b"{")))])
            .chain(futures_util::stream::pending());
        http_body_util::StreamBody::new(chunks).boxed_unsync()
    }

    #[tokio::test]
    async fn a_body_still_streaming_at_the_deadline_ends_with_an_error() {
        let limit = Duration::from_millis(100);
        let started = tokio::time::Instant::now();
        let mut body = Deadline::new(hangs_after_one_chunk(), started + limit, limit);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"{"), "what came before the deadline is passed on");
        let cut = tokio::time::timeout(Duration::from_secs(2), body.frame()).await.expect("no hang past the deadline");
        let err = cut.unwrap().unwrap_err();
        assert!(err.to_string().contains("super apiserver was too slow"), "{err}");
        assert!(started.elapsed() >= limit);
    }

    #[tokio::test]
    async fn a_body_that_ends_in_time_is_untouched() {
        let limit = Duration::from_secs(5);
        let body = Deadline::new(full("whole"), tokio::time::Instant::now() + limit, limit);
        assert_eq!(body.collect().await.unwrap().to_bytes(), Bytes::from_static(b"whole"));
    }
}
