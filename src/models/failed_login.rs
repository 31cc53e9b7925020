use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ipnet::IpNet;
use uuid::Uuid;

use super::row_repr;
use crate::schema::failed_logins;

/// One failed back-office login, counted by the throttle.
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = failed_logins, check_for_backend(diesel::pg::Pg))]
pub struct FailedLogin {
    pub id: Uuid,
    pub username: String,
    pub ip: Option<IpNet>,
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
row_repr!(FailedLogin, "FailedLogin", |f| f.id);

#[derive(Insertable)]
#[diesel(table_name = failed_logins, check_for_backend(diesel::pg::Pg))]
pub struct NewFailedLogin<'a> {
    pub id: Uuid,
    pub username: &'a str,
    pub ip: Option<IpNet>,
    pub user_agent: &'a str,
}
