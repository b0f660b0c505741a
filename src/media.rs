//! What a tenant may receive: `Accept` negotiation on the way in, the egress check on the way out.
//!
//! vcproxy can only filter and translate JSON, so only JSON is ever asked of the super
//! apiserver: the tenant's `Accept` is decided here once ([`negotiate`]) and replaced by its
//! JSON form before any route runs. On the way out, [`egress`] is the one check every response
//! passes: a body goes to the tenant only if the stage that made it marked it [`Vetted`]
//! (rewritten into the tenant's view, produced by vcproxy, or a stream that carries no API
//! objects). Anything else becomes a 500 `Status`: deny unless rewritten. A tenant that asked
//! for YAML gets YAML, converted here from the vetted JSON.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

use crate::body::{self, ProxyBody};
use crate::error::ApiError;

/// The largest response converted to YAML (a whole list is buffered for it).
const MAX_YAML_SOURCE: usize = 64 << 20;

/// How the tenant's response is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Json,
    Yaml,
}

/// The outcome of negotiation: the encoding the tenant gets and the `Accept` sent upstream
/// (JSON only, keeping the tenant's transforms such as `as=Table`, in its order of preference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseFormat {
    pub encoding: Encoding,
    pub upstream_accept: HeaderValue,
}

/// Marks a response that may go to the tenant as it is; set by the stage that made the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vetted {
    /// JSON translated into the tenant's view (foreign objects dropped), or made by vcproxy.
    Json,
    /// Bytes that carry no API objects: container logs, the tenant's own pod or service behind
    /// `proxy`, an upgraded exec/attach/port-forward stream, discovery documents, health.
    Opaque,
}

/// Marks `resp` as checked by the stage that produced it.
pub fn vetted<B>(mut resp: Response<B>, how: Vetted) -> Response<B> {
    resp.extensions_mut().insert(how);
    resp
}

const NOT_ACCEPTABLE: &str = "only the following media types are accepted: application/json, application/yaml \
     (vcproxy does not serve protobuf or CBOR to tenants; send Accept: application/json)";

/// One clause of an `Accept` header.
struct Clause<'a> {
    media: &'a str,
    params: Vec<(&'a str, &'a str)>,
    q: f32,
}

fn parse_clause(raw: &str) -> Option<Clause<'_>> {
    let mut parts = raw.split(';');
    let media = parts.next()?.trim();
    if media.is_empty() {
        return None;
    }
    let mut clause = Clause { media, params: Vec::new(), q: 1.0 };
    for p in parts {
        let (k, v) = p.split_once('=').map_or((p.trim(), ""), |(k, v)| (k.trim(), v.trim().trim_matches('"')));
        if k.eq_ignore_ascii_case("q") {
            clause.q = v.parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))?;
        } else if !k.is_empty() {
            clause.params.push((k, v));
        }
    }
    Some(clause)
}

/// The transforms kube-apiserver offers (`as`, `g`, `v`); anything else is refused, as the
/// apiserver refuses a transform its endpoints do not allow.
fn transform(params: &[(&str, &str)]) -> Result<Option<String>, ()> {
    let get = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
    let Some(as_) = get("as") else {
        return if get("g").is_some() || get("v").is_some() { Err(()) } else { Ok(None) };
    };
    let known_kind = matches!(as_, "Table" | "PartialObjectMetadata" | "PartialObjectMetadataList");
    let (g, v) = (get("g").unwrap_or(""), get("v").unwrap_or(""));
    if known_kind && g == "meta.k8s.io" && matches!(v, "v1" | "v1beta1") {
        Ok(Some(format!(";as={as_};g={g};v={v}")))
    } else {
        Err(())
    }
}

/// Decides the response format for a resource request from its `Accept` headers, the way
/// kube-apiserver does: clauses by descending `q` (ties keep their order); `*/*` and
/// `application/*` mean JSON; YAML has no watch encoding; a clause with an unknown transform
/// is skipped. No acceptable clause is a 406.
pub fn negotiate(headers: &HeaderMap, watch: bool) -> Result<ResponseFormat, ApiError> {
    let mut clauses: Vec<Clause<'_>> = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        let value = value.to_str().map_err(|_| ApiError::not_acceptable(NOT_ACCEPTABLE))?;
        clauses.extend(value.split(',').filter(|c| !c.trim().is_empty()).filter_map(parse_clause));
    }
    if headers.get(header::ACCEPT).is_none() || clauses.is_empty() && all_blank(headers) {
        return Ok(ResponseFormat {
            encoding: Encoding::Json,
            upstream_accept: HeaderValue::from_static("application/json"),
        });
    }
    clauses.sort_by(|a, b| b.q.total_cmp(&a.q));
    let mut encoding = None;
    let mut upstream: Vec<String> = Vec::new();
    for c in clauses.iter().filter(|c| c.q > 0.0) {
        let enc = match c.media.to_ascii_lowercase().as_str() {
            "application/json" | "*/*" | "application/*" => Encoding::Json,
            "application/yaml" if !watch => Encoding::Yaml,
            _ => continue,
        };
        let Ok(transform) = transform(&c.params) else { continue };
        let clause = format!("application/json{}", transform.unwrap_or_default());
        if !upstream.contains(&clause) {
            upstream.push(clause);
        }
        encoding.get_or_insert(enc);
    }
    let encoding = encoding.ok_or_else(|| ApiError::not_acceptable(NOT_ACCEPTABLE))?;
    let upstream_accept = HeaderValue::from_str(&upstream.join(", ")).expect("built from checked tokens");
    Ok(ResponseFormat { encoding, upstream_accept })
}

fn all_blank(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().all(|v| v.to_str().is_ok_and(|s| s.trim().is_empty()))
}

/// The one check on the way out: an unvetted body never reaches the tenant; vetted JSON is
/// converted to YAML when the tenant asked for it.
pub async fn egress(resp: Response<ProxyBody>, encoding: Encoding) -> Response<ProxyBody> {
    // Copied out: a borrow of the (non-Sync) body held across the await would make this !Send.
    let vetted = resp.extensions().get::<Vetted>().copied();
    match vetted {
        Some(Vetted::Opaque) => resp,
        Some(Vetted::Json) if encoding == Encoding::Yaml && is_json(resp.headers()) => to_yaml(resp).await,
        Some(Vetted::Json) => resp,
        None => {
            let content_type = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::error!(
                status = resp.status().as_u16(),
                content_type,
                "refused to pass on a response no stage vetted"
            );
            ApiError::internal("vcproxy could not check this response for the tenant's view and did not send it")
                .into_response()
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("application/json"))
}

async fn to_yaml(resp: Response<ProxyBody>) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    let converted = match read_bounded(body, MAX_YAML_SOURCE).await {
        Ok(bytes) => json_to_yaml(&bytes),
        Err(e) => Err(e),
    };
    match converted {
        Ok(yaml) => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|ct| ct.replacen("application/json", "application/yaml", 1))
                .and_then(|ct| HeaderValue::from_str(&ct).ok())
                .unwrap_or(HeaderValue::from_static("application/yaml"));
            parts.headers.insert(header::CONTENT_TYPE, content_type);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, body::full(yaml))
        }
        Err(why) => {
            tracing::warn!(error = %why, "converting a response to YAML failed");
            let err = if parts.status == StatusCode::PAYLOAD_TOO_LARGE || why.contains("larger than") {
                ApiError::internal("the response is too large to convert to YAML; ask for application/json")
            } else {
                ApiError::internal("vcproxy could not convert the response to YAML; ask for application/json")
            };
            vetted(err.into_response(), Vetted::Json)
        }
    }
}

/// The whole body, up to `limit` bytes. (Written out rather than `body::collect_limited`:
/// that generic future trips the compiler's `Send` inference inside the service future.)
async fn read_bounded(mut body: ProxyBody, limit: usize) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(format!("the response is larger than {limit} bytes"));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// JSON → YAML with object keys sorted, as kube-apiserver's YAML serializer writes them.
pub fn json_to_yaml(json: &[u8]) -> Result<Bytes, String> {
    let value: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let yaml = serde_yaml::to_string(&sorted(value)).map_err(|e| e.to_string())?;
    Ok(Bytes::from(yaml))
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect::<Map<_, _>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(accept: &[&str], watch: bool) -> Result<(Encoding, String), u16> {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        negotiate(&h, watch)
            .map(|f| (f.encoding, f.upstream_accept.to_str().unwrap().to_string()))
            .map_err(|e| e.code.as_u16())
    }

    #[test]
    fn only_json_goes_upstream() {
        use Encoding::*;
        let ok = |a: &[&str], enc, up: &str| assert_eq!(negotiated(a, false), Ok((enc, up.to_string())), "{a:?}");
        ok(&[], Json, "application/json");
        ok(&["application/json"], Json, "application/json");
        ok(&["application/yaml"], Yaml, "application/json");
        ok(&["*/*"], Json, "application/json");
        ok(&["application/*"], Json, "application/json");
        ok(&["application/yaml;as=Table;v=v1;g=meta.k8s.io"], Yaml, "application/json;as=Table;g=meta.k8s.io;v=v1");
        ok(
            &["application/json;as=Table;v=v1;g=meta.k8s.io,application/json"],
            Json,
            "application/json;as=Table;g=meta.k8s.io;v=v1, application/json",
        );
        ok(&["application/vnd.kubernetes.protobuf, application/json"], Json, "application/json");
        ok(&["application/vnd.kubernetes.protobuf", "application/yaml"], Yaml, "application/json");
        ok(&["application/yaml;q=0.5, application/json;q=0.9"], Json, "application/json");
        ok(&["application/json;q=0.1, application/yaml"], Yaml, "application/json");
        ok(&["application/json;charset=utf-8;pretty=1"], Json, "application/json");
        ok(&["APPLICATION/YAML"], Yaml, "application/json");
        ok(&["application/json;as=Foo;g=meta.k8s.io;v=v1, application/yaml"], Yaml, "application/json");
    }

    #[test]
    fn what_cannot_be_rewritten_is_refused() {
        for a in [
            "text/plain",
            "application/vnd.kubernetes.protobuf",
            "application/cbor",
            "application/xml",
            "application/json;q=0",
            "application/yaml;q=0, text/html",
            "application/json;q=nonsense",
            "application/json;as=Table",
            "application/json;as=Table;g=example.com;v=v1",
            "application/json;g=meta.k8s.io",
            "application/apply-patch+yaml",
            ";;;",
        ] {
            assert_eq!(negotiated(&[a], false), Err(406), "{a}");
        }
    }

    #[test]
    fn watches_have_no_yaml() {
        assert_eq!(negotiated(&["application/yaml"], true), Err(406));
        assert_eq!(negotiated(&["application/yaml, application/json"], true).unwrap().0, Encoding::Json);
        assert_eq!(negotiated(&["application/json;stream=watch"], true).unwrap().1, "application/json");
    }

    fn response(vetted_as: Option<Vetted>, content_type: &str, body: &'static str) -> Response<ProxyBody> {
        let mut r = Response::builder().header(header::CONTENT_TYPE, content_type).body(body::full(body)).unwrap();
        if let Some(v) = vetted_as {
            r = vetted(r, v);
        }
        r
    }

    async fn text(r: Response<ProxyBody>) -> String {
        String::from_utf8(body::collect_limited(r.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn unvetted_bodies_never_leave() {
        for enc in [Encoding::Json, Encoding::Yaml] {
            let r = egress(response(None, "application/yaml", "namespace: acme--default\n"), enc).await;
            assert_eq!(r.status(), 500);
            let t = text(r).await;
            assert!(!t.contains("acme"), "{t}");
            assert!(t.contains("\"kind\":\"Status\""), "{t}");
        }
    }

    #[tokio::test]
    async fn vetted_json_becomes_yaml_when_asked() {
        let r = egress(response(Some(Vetted::Json), "application/json", r#"{"kind":"ConfigMapList","apiVersion":"v1","items":[{"metadata":{"name":"a","namespace":"default"},"data":{"n":"1"}}]}"#), Encoding::Yaml).await;
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/yaml");
        let t = text(r).await;
        assert!(t.starts_with("apiVersion: v1\nitems:\n"), "keys sorted: {t}");
        assert!(t.contains("n: '1'") || t.contains("n: \"1\""), "strings that look like numbers stay strings: {t}");
        let back: Value = serde_yaml::from_str(&t).unwrap();
        assert_eq!(back["items"][0]["metadata"]["namespace"], "default");

        let table = egress(
            response(Some(Vetted::Json), "application/json;as=Table;g=meta.k8s.io;v=v1", r#"{"kind":"Table"}"#),
            Encoding::Yaml,
        )
        .await;
        assert_eq!(table.headers()[header::CONTENT_TYPE], "application/yaml;as=Table;g=meta.k8s.io;v=v1");
        let logs = egress(response(Some(Vetted::Opaque), "text/plain", "log line"), Encoding::Yaml).await;
        assert_eq!(text(logs).await, "log line");
        let json = egress(response(Some(Vetted::Json), "application/json", "{\"a\":1}"), Encoding::Json).await;
        assert_eq!(text(json).await, "{\"a\":1}");
    }
}
