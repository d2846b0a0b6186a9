//! djoser's e-mails: pure rendering (`templates`) and the sending adapter (`mailer`).

pub mod mailer;
pub mod templates;
