//! How requests to the function are authenticated: [`AuthType`], and the [`Iam`] identity
//! they are checked against.

use std::fmt;

/// A function URL's `AuthType`; see [`Options::auth`](crate::Options::auth).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthType {
    /// `NONE`: no signature asked for. The default.
    #[default]
    None,
    /// `AWS_IAM`: every request to the function (function URL, `/invoke`, `Invoke`,
    /// `InvokeWithResponseStream`) must be signed (SigV4, service `lambda`) with the
    /// credentials of [`Options::iam`](crate::Options::iam) (`LOCAL_LAMBDA_AUTH=AWS_IAM`).
    AwsIam,
}

/// The credentials requests are signed with under [`AuthType::AwsIam`], and the identity
/// the function sees in `requestContext.authorizer.iam`; see [the door](https://github.com/lambda-stream/lambda-stream/blob/main/docs/door.md#aws_iam-auth).
///
/// [`Iam::from_env`] reads the process's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN` (only those: profiles and SSO are not read).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Iam {
    /// The access key id requests must be signed with (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: String,
    /// Its secret (`AWS_SECRET_ACCESS_KEY`); never logged, and left out of `Debug`.
    pub secret_access_key: String,
    /// The session token of temporary credentials (`AWS_SESSION_TOKEN`): when set, requests
    /// must carry it in `x-amz-security-token`, as AWS requires.
    pub session_token: Option<String>,
    /// `accountId` of the caller: `LOCAL_LAMBDA_IAM_ACCOUNT_ID` (default `123456789012`).
    pub account_id: String,
    /// `userArn`: `LOCAL_LAMBDA_IAM_USER_ARN` (default `arn:aws:iam::<account>:user/local`).
    pub user_arn: String,
    /// `callerId` and `userId`: `LOCAL_LAMBDA_IAM_CALLER_ID` (default `AIDALOCALDEVELOPER`).
    pub caller_id: String,
    /// `principalOrgId`: `LOCAL_LAMBDA_IAM_PRINCIPAL_ORG_ID` (default none: `null`).
    pub principal_org_id: Option<String>,
}

const DEFAULT_ACCOUNT: &str = "123456789012";
const DEFAULT_CALLER: &str = "AIDALOCALDEVELOPER";

impl Default for Iam {
    fn default() -> Self {
        Iam {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: None,
            account_id: DEFAULT_ACCOUNT.to_owned(),
            user_arn: format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/local"),
            caller_id: DEFAULT_CALLER.to_owned(),
            principal_org_id: None,
        }
    }
}

impl fmt::Debug for Iam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iam")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("account_id", &self.account_id)
            .field("user_arn", &self.user_arn)
            .field("caller_id", &self.caller_id)
            .field("principal_org_id", &self.principal_org_id)
            .finish()
    }
}

impl Iam {
    /// Reads the credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`; the identity keeps its defaults ([`Options::from_env`](crate::Options::from_env)
    /// reads it from the `LOCAL_LAMBDA_IAM_*` variables, with every other setting).
    pub fn from_env() -> Self {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// The credentials `lookup` gives, the default identity.
    pub(crate) fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Iam {
            access_key_id: var("AWS_ACCESS_KEY_ID").unwrap_or_default(),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY").unwrap_or_default(),
            session_token: var("AWS_SESSION_TOKEN"),
            ..Iam::default()
        }
    }
}
