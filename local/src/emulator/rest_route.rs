//! The REST API's routing: the stage in the path, the resource a path is on, and its
//! `pathParameters`.

use super::fronts::decode;

/// The REST API's route of a request: the resource it matched and its path parameters.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Route {
    /// The path without the stage (`/items/42`).
    pub(crate) path: String,
    /// The resource (`/items/{id}`).
    pub(crate) resource: String,
    /// `pathParameters`: `None` when the resource has none.
    pub(crate) parameters: Option<Vec<(String, String)>>,
}

/// A REST API resource path: `/items/{id}`, `/files/{path+}`.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Parameter(String),
    /// `{name+}`: the rest of the path, one segment or more.
    Greedy(String),
}

impl Resource {
    /// `None` when `text` is not a resource path: it starts with `/`, a greedy `{name+}` is
    /// its last segment, and no segment is empty (but the root's).
    pub(crate) fn parse(text: &str) -> Option<Resource> {
        let rest = text.strip_prefix('/')?;
        let mut segments = Vec::new();
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let name_ok = |n: &str| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            };
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(name) if i == last && name_ok(name) => Segment::Greedy(name.to_owned()),
                    None if name_ok(name) => Segment::Parameter(name.to_owned()),
                    _ => return None,
                },
                None if !part.is_empty() && !part.contains(['{', '}']) => {
                    Segment::Literal(part.to_owned())
                }
                None => return None,
            };
            segments.push(segment);
        }
        Some(Resource {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path parameters of `path` (without the stage), when it is this resource's.
    fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let rest = path.strip_prefix('/')?;
        let mut parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut parameters = Vec::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(l) => {
                    if parts.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Parameter(name) => {
                    let value = parts.get(i).filter(|v| !v.is_empty())?;
                    parameters.push((name.clone(), decode(value)));
                }
                Segment::Greedy(name) => {
                    let value = parts.get(i..)?.join("/");
                    if value.is_empty() {
                        return None;
                    }
                    parameters.push((name.clone(), decode(&value)));
                    parts.truncate(i);
                    return Some(parameters);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(parameters)
    }
}

/// The route of `path` in a REST API whose stage is `stage`, with the one resource `resource`,
/// or the proxy API's `/` and `/{proxy+}` without one. `Err` with API Gateway's message when
/// nothing matches: `Forbidden` outside the stage, `Missing Authentication Token` (as API
/// Gateway answers a path it has no resource for) within it.
pub(crate) fn route(
    path: &str,
    stage: &str,
    resource: Option<&Resource>,
) -> Result<Route, &'static str> {
    let within = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(stage))
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .ok_or("Forbidden")?;
    let path = if within.is_empty() { "/" } else { within };
    let proxy;
    let resource = match resource {
        Some(resource) => resource,
        None if path == "/" => {
            return Ok(Route {
                path: path.to_owned(),
                resource: "/".to_owned(),
                parameters: None,
            })
        }
        None => {
            proxy = Resource::parse("/{proxy+}").ok_or("Forbidden")?;
            &proxy
        }
    };
    let parameters = resource
        .matches(path)
        .ok_or("Missing Authentication Token")?;
    Ok(Route {
        path: path.to_owned(),
        resource: resource.text.clone(),
        parameters: (!parameters.is_empty()).then_some(parameters),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Resource {
        Resource::parse(text).unwrap()
    }

    #[test]
    fn resources_parse_as_api_gateway_takes_them() {
        for ok in [
            "/",
            "/items",
            "/items/{id}",
            "/a/{b}/c/{rest+}",
            "/{proxy+}",
        ] {
            assert!(Resource::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", "items", "/items/", "/{a+}/b", "/{}", "/a{b}", "//x"] {
            assert!(Resource::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn routes_strip_the_stage_and_match_the_resource() {
        let items = r("/items/{id}");
        let got = route("/prod/items/4%202", "prod", Some(&items)).unwrap();
        assert_eq!(got.path, "/items/4%202");
        assert_eq!(got.resource, "/items/{id}");
        assert_eq!(
            got.parameters,
            Some(vec![("id".to_owned(), "4 2".to_owned())])
        );
        assert_eq!(route("/items/42", "prod", Some(&items)), Err("Forbidden"));
        assert_eq!(route("/production/x", "prod", None), Err("Forbidden"));
        assert_eq!(
            route("/prod/items", "prod", Some(&items)),
            Err("Missing Authentication Token")
        );
        assert_eq!(
            route("/prod/items/1/2", "prod", Some(&items)),
            Err("Missing Authentication Token")
        );
        // The proxy API: `/` and `/{proxy+}`.
        let root = route("/dev", "dev", None).unwrap();
        assert_eq!((root.path.as_str(), root.resource.as_str()), ("/", "/"));
        assert_eq!(root.parameters, None);
        let proxy = route("/dev/a/b", "dev", None).unwrap();
        assert_eq!(proxy.resource, "/{proxy+}");
        assert_eq!(
            proxy.parameters,
            Some(vec![("proxy".to_owned(), "a/b".to_owned())])
        );
        let files = r("/files/{path+}");
        assert!(route("/dev/files", "dev", Some(&files)).is_err());
        let literal = route("/dev/files/a/b.txt", "dev", Some(&files)).unwrap();
        assert_eq!(
            literal.parameters,
            Some(vec![("path".to_owned(), "a/b.txt".to_owned())])
        );
        let plain = r("/health");
        let got = route("/dev/health", "dev", Some(&plain)).unwrap();
        assert_eq!(got.parameters, None);
    }
}
