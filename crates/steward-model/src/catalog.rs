//! The service catalog: services, their owners and what they depend on.

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// The owning team; `None` for a service known only from an OpenSLO document.
    pub owner: Option<String>,
    /// 1 is the most critical.
    pub tier: Option<u8>,
    pub lifecycle: Option<String>,
    /// The provider's customer (tenant) this service runs for.
    pub customer: Option<String>,
    pub depends_on: Vec<String>,
    pub links: Vec<Link>,
    pub failure_modes: Vec<FailureMode>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub title: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FailureMode {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Team {
    pub name: String,
    pub display_name: Option<String>,
    pub members: Vec<String>,
}
