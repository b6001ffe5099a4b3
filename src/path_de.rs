//! TEMPORARY stub, replaced by the real path deserializer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathError {
    pub(crate) parameter: Option<String>,
    pub(crate) message: String,
}
impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
pub(crate) fn deserialize_path<T: serde::de::DeserializeOwned>(
    params: &[(String, String)],
) -> Result<T, PathError> {
    let v = params.first().map(|(_, v)| v.clone()).unwrap_or_default();
    let json = if v.parse::<f64>().is_ok() {
        v.clone()
    } else {
        format!("{v:?}")
    };
    serde_json::from_str(&json).map_err(|e| PathError {
        parameter: params.first().map(|(n, _)| n.clone()),
        message: e.to_string(),
    })
}
