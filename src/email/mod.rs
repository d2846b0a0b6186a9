//! djoser's e-mails: pure rendering (`templates`), composing a message for a user (`compose`),
//! operator overrides and template variables (`custom`), and the sending adapter (`mailer`).

pub mod compose;
pub mod custom;
pub mod mailer;
pub mod templates;
