//! The SES v2 adapter: `SendEmail` with Simple content (subject, HTML and
//! text parts; no SES-side templates), one recipient in `To`.
//!
//! The client is built with the SDK's own retries off: throttling and 5xx
//! are retried by the handler, with backoff bounded by the invocation's
//! deadline and by the shared sending-slot limit, so there is one retry
//! policy rather than two multiplied together.

use std::time::Duration;

use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::{Email, MailSender, SendError};
use crate::text::for_log;

const CHARSET: &str = "UTF-8";

/// An SES v2 client behind [`MailSender`].
#[derive(Debug, Clone)]
pub struct SesMailSender {
    client: aws_sdk_sesv2::Client,
}

impl SesMailSender {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }

    /// A client for this adapter: the SDK configuration (endpoint, region,
    /// credentials) with SDK retries off and bounded attempt times, so one
    /// hung call cannot eat the invocation.
    pub fn client_from(sdk: &aws_config::SdkConfig) -> aws_sdk_sesv2::Client {
        let config = aws_sdk_sesv2::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            )
            .build();
        aws_sdk_sesv2::Client::from_conf(config)
    }
}

fn content(text: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(text)
        .charset(CHARSET)
        .build()
        .map_err(|e| SendError::Rejected(format!("cannot build SES content: {e}")))
}

impl MailSender for SesMailSender {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .html(content(&email.html)?)
                    .text(content(&email.text)?)
                    .build(),
            )
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(email.from.as_str())
            // Exactly one recipient, as a structured list entry: nothing
            // from the event is ever parsed as an address list.
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|err| classify(&err))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}

/// Messages SES uses for rate and quota limits, whatever the error code.
fn mentions_rate_limit(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "rate exceeded",
        "sending rate",
        "too many requests",
        "quota exceeded",
        "throttl",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// Splits an SES error into retry-or-reject. Throttling, rate limits and
/// 5xx are worth retrying; rejections, unverified senders, bad requests
/// (invalid addresses), a suspended or paused account, and any other 4xx
/// are not (those records go to the dead-letter queue, whose bytes allow a
/// redrive once the cause is fixed).
pub fn classify(err: &SdkError<SendEmailError, HttpResponse>) -> SendError {
    let Some(service) = err.as_service_error() else {
        let detail = for_log(&DisplayErrorContext(err).to_string());
        return match err {
            // The request was written and then the answer was lost or
            // never parsed: SES may have accepted it.
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                SendError::OutcomeUnknown(detail)
            }
            SdkError::DispatchFailure(_) if never_left(err) => SendError::Unavailable(detail),
            SdkError::DispatchFailure(_) => SendError::OutcomeUnknown(detail),
            _ if stream_core::aws::is_transient(err) => SendError::Unavailable(detail),
            _ => SendError::Rejected(detail),
        };
    };
    let code = service.code().unwrap_or_else(|| variant_name(service));
    let message = service_message(service);
    let detail = for_log(&format!("{code}: {}", message.unwrap_or("no message")));
    if service.is_too_many_requests_exception()
        || service.is_limit_exceeded_exception()
        || message.is_some_and(mentions_rate_limit)
    {
        return SendError::Throttled(detail);
    }
    if service.is_message_rejected()
        || service.is_mail_from_domain_not_verified_exception()
        || service.is_bad_request_exception()
        || service.is_not_found_exception()
        || service.is_account_suspended_exception()
        || service.is_sending_paused_exception()
    {
        return SendError::Rejected(detail);
    }
    if let SdkError::ServiceError(ctx) = err {
        if ctx.raw().status().as_u16() == 429 {
            return SendError::Throttled(detail);
        }
    }
    if stream_core::aws::is_transient(err) {
        SendError::Unavailable(detail)
    } else {
        SendError::Rejected(detail)
    }
}

/// True when the request provably never reached SES: the connection could
/// not be made (refused, no route, connect timeout), so sending again is
/// safe. Any other transport failure may have come after SES read the
/// request.
fn never_left(err: &SdkError<SendEmailError, HttpResponse>) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(connector) =
            cause.downcast_ref::<aws_smithy_runtime_api::client::result::ConnectorError>()
        {
            if connector.is_timeout()
                && DisplayErrorContext(connector)
                    .to_string()
                    .contains("connect")
            {
                return true;
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable
            ) {
                return true;
            }
        }
        if cause.to_string().contains("error trying to connect") {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The modeled error's message, else the one in the error metadata.
fn service_message(err: &SendEmailError) -> Option<&str> {
    let modeled = match err {
        SendEmailError::AccountSuspendedException(e) => e.message(),
        SendEmailError::BadRequestException(e) => e.message(),
        SendEmailError::LimitExceededException(e) => e.message(),
        SendEmailError::MailFromDomainNotVerifiedException(e) => e.message(),
        SendEmailError::MessageRejected(e) => e.message(),
        SendEmailError::NotFoundException(e) => e.message(),
        SendEmailError::SendingPausedException(e) => e.message(),
        SendEmailError::TooManyRequestsException(e) => e.message(),
        _ => None,
    };
    modeled.or_else(|| err.message())
}

fn variant_name(err: &SendEmailError) -> &'static str {
    match err {
        SendEmailError::AccountSuspendedException(_) => "AccountSuspendedException",
        SendEmailError::BadRequestException(_) => "BadRequestException",
        SendEmailError::LimitExceededException(_) => "LimitExceededException",
        SendEmailError::MailFromDomainNotVerifiedException(_) => {
            "MailFromDomainNotVerifiedException"
        }
        SendEmailError::MessageRejected(_) => "MessageRejected",
        SendEmailError::NotFoundException(_) => "NotFoundException",
        SendEmailError::SendingPausedException(_) => "SendingPausedException",
        SendEmailError::TooManyRequestsException(_) => "TooManyRequestsException",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::types::error::{
        BadRequestException, LimitExceededException, MailFromDomainNotVerifiedException,
        MessageRejected, TooManyRequestsException,
    };
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(err: SendEmailError, status: u16) -> SdkError<SendEmailError, HttpResponse> {
        SdkError::service_error(
            err,
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    fn unhandled(code: &str, message: &str, status: u16) -> SdkError<SendEmailError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        service(SendEmailError::generic(meta), status)
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        let cases = [
            service(
                SendEmailError::TooManyRequestsException(
                    TooManyRequestsException::builder()
                        .message("slow down")
                        .build(),
                ),
                429,
            ),
            service(
                SendEmailError::LimitExceededException(
                    LimitExceededException::builder().message("limit").build(),
                ),
                400,
            ),
            unhandled("Throttling", "Maximum sending rate exceeded.", 400),
            unhandled("InternalFailure", "oops", 500),
            unhandled("ServiceUnavailable", "later", 503),
            unhandled("Whatever", "nope", 429),
        ];
        for err in &cases {
            let class = classify(err);
            assert!(class.is_transient(), "{err:?} classified {class:?}");
        }
        assert!(
            matches!(classify(&cases[0]), SendError::Throttled(ref d) if d.contains("TooManyRequestsException"))
        );
        assert!(matches!(classify(&cases[3]), SendError::Unavailable(_)));
    }

    #[test]
    fn rejections_and_bad_requests_are_permanent_and_redacted() {
        let cases = [
            service(
                SendEmailError::MessageRejected(
                    MessageRejected::builder()
                        .message("Email address is not verified: jane@example.com")
                        .build(),
                ),
                400,
            ),
            service(
                SendEmailError::MailFromDomainNotVerifiedException(
                    MailFromDomainNotVerifiedException::builder()
                        .message("mail from")
                        .build(),
                ),
                400,
            ),
            service(
                SendEmailError::BadRequestException(
                    BadRequestException::builder()
                        .message("Illegal address: x@@y")
                        .build(),
                ),
                400,
            ),
            unhandled("AccessDeniedException", "no", 403),
        ];
        for err in &cases {
            let class = classify(err);
            assert!(
                matches!(class, SendError::Rejected(_)),
                "{err:?} classified {class:?}"
            );
        }
        let SendError::Rejected(detail) = classify(&cases[0]) else {
            unreachable!()
        };
        assert!(detail.starts_with("MessageRejected: "), "{detail}");
        assert!(
            detail.contains("j***@example.com") && !detail.contains("jane@"),
            "{detail}"
        );
    }

    async fn send_to(endpoint: &str) -> Result<String, SendError> {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
                "test", "test", None, None, "static",
            ))
            .load()
            .await;
        let sender = SesMailSender::new(SesMailSender::client_from(&sdk));
        let email = Email {
            from: order_events::EmailAddress::parse("shop@example.com").unwrap(),
            to: order_events::EmailAddress::parse("ada@example.com").unwrap(),
            subject: "s".into(),
            html: "h".into(),
            text: "t".into(),
        };
        sender.send(&email).await
    }

    #[tokio::test]
    async fn a_connection_never_made_is_safe_to_retry() {
        // A port nobody listens on: the request never left.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = send_to(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Unavailable(_)), "{err}");
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn a_connection_dropped_after_the_request_is_an_unknown_outcome() {
        // A server that reads the request, as SES would before sending,
        // then drops the connection without answering.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = vec![0u8; 65536];
                let _ = socket.read(&mut buffer).await;
                drop(socket);
            }
        });
        let err = send_to(&url).await.unwrap_err();
        assert!(matches!(err, SendError::OutcomeUnknown(_)), "{err}");
        assert!(!err.is_transient());
    }
}
