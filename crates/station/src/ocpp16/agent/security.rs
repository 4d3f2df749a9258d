//! The security whitepaper (edition 3) in the agent: the security log with critical events
//! queued for guaranteed delivery, the certificate operations (Install/Delete/
//! GetInstalledCertificateIds, SignCertificate on ExtendedTriggerMessage or a month before
//! expiry, CertificateSigned), and the TLS settings profiles 2 and 3 connect with.

use super::{Agent, Registration};
use crate::ocpp16::{Connection, OcppError};
use cp16::keys::SecurityProfile;
use cp16::security::{InstallPolicy, LinkTrust, event};
use ocpp_client::{ClientError, IncomingCall};
use proto_ocpp::v16::*;
use std::sync::Arc;
use tokio::sync::watch;

pub(super) const CERTIFICATES_DOC: &str = "certificates";
pub(super) const SECURITY_LOG_DOC: &str = "security-log";

impl Agent {
    /// Logs a security event; a critical one is also queued for the central system with
    /// guaranteed delivery.
    pub(super) async fn security_event(
        &mut self,
        kind: &str,
        info: Option<&str>,
    ) -> Result<(), OcppError> {
        let event = self.log.record(kind, self.clock.now(), info);
        tracing::info!(kind, info, "security event");
        self.store.save(SECURITY_LOG_DOC, &self.log).await?;
        if event.is_critical() {
            self.enqueue("SecurityEventNotification", &event.notification(), None)
                .await?;
        }
        Ok(())
    }

    /// The TLS settings of the current security profile: the explicit ones the station was
    /// started with, else the installed central-system roots (profiles 2 and 3) and the charge
    /// point certificate (profile 3).
    pub(super) fn tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        if let Some(explicit) = &self.settings.tls {
            return Some(explicit.clone());
        }
        let profile = self.keys.security_profile();
        if !profile.uses_tls() {
            return None;
        }
        let roots = self.certificates.central_system_roots_pem();
        let now = self.clock.now();
        let identity = (profile == SecurityProfile::TlsClientCertificate)
            .then(|| self.certificates.identity(now))
            .flatten();
        let identity = identity.map(|c| (c.chain_pem().as_bytes(), c.key_pem().as_bytes()));
        match ocpp_client::tls::client_config(roots.as_bytes(), identity) {
            Ok(config) => Some(config),
            Err(e) => {
                tracing::error!(error = %e, "no usable TLS settings for the security profile");
                None
            }
        }
    }

    /// What the connection task connects with now.
    pub(super) fn connection(&self) -> Connection {
        Connection {
            password: self.keys.authorization_key().map(<[u8]>::to_vec),
            ping: self.keys.web_socket_ping_interval(),
            call_timeout: self.keys.message_timeout(),
            tls: self.tls(),
        }
    }

    /// Sends a SignCertificate with a new key pair; false when it cannot (no CpoName).
    pub(super) async fn sign_certificate(&mut self) -> Result<bool, OcppError> {
        let now = self.clock.now();
        let csr =
            match self
                .certificates
                .create_csr(&self.settings.station_id, self.keys.cpo_name(), now)
            {
                Ok(csr) => csr,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot make a certificate signing request");
                    return Ok(false);
                }
            };
        self.store
            .save(CERTIFICATES_DOC, &self.certificates)
            .await?;
        if let Some(caller) = &self.caller {
            let answer = caller.submit(SignCertificateRequest::new(csr));
            let inputs = self.inputs.clone();
            tokio::spawn(async move {
                let accepted = matches!(
                    answer.await,
                    Ok(Response::SignCertificate(r)) if r.status == GenericStatusEnum::Accepted
                );
                let _ = inputs.send(super::Input::SignCertificateAnswered(accepted));
            });
        }
        Ok(true)
    }

    /// The central system's answer to SignCertificate: a refusal drops the pending key.
    pub(super) async fn sign_certificate_answered(
        &mut self,
        accepted: bool,
    ) -> Result<(), OcppError> {
        if !accepted && self.certificates.cancel_csr() {
            tracing::warn!("the central system refused to sign our certificate request");
            self.store
                .save(CERTIFICATES_DOC, &self.certificates)
                .await?;
        }
        Ok(())
    }

    /// Renews the charge point certificate a month before it expires (A03), once per window.
    pub(super) async fn renew_certificate(&mut self) -> Result<(), OcppError> {
        let now = self.clock.now();
        if self.registration == Registration::Accepted
            && !self.certificates.has_pending_csr()
            && self.certificates.needs_renewal(now)
        {
            tracing::info!("the charge point certificate expires within a month; renewing it");
            self.sign_certificate().await?;
        }
        Ok(())
    }

    /// The security operations among the central system's requests; `Err(call)` hands back a
    /// call that is not one of them.
    pub(super) async fn answer_security(
        &mut self,
        call: IncomingCall<V16>,
        link: &watch::Sender<Connection>,
    ) -> Result<Result<(), IncomingCall<V16>>, OcppError> {
        let now = self.clock.now();
        let request = call.request.clone();
        match &request {
            Request::InstallCertificate(req) => {
                let policy = InstallPolicy::from_keys(&self.keys);
                let status = match self.certificates.install(
                    req.certificate_type,
                    &req.certificate,
                    now,
                    policy,
                ) {
                    Ok(_) => match self.store.save(CERTIFICATES_DOC, &self.certificates).await {
                        Ok(()) => InstallCertificateStatusEnum::Accepted,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot save the certificate store");
                            InstallCertificateStatusEnum::Failed
                        }
                    },
                    Err(e) => {
                        tracing::info!(error = %e, "certificate refused");
                        e.status()
                    }
                };
                call.respond(InstallCertificateResponse::new(status));
                if status == InstallCertificateStatusEnum::Accepted {
                    self.security_event(
                        event::RECONFIGURATION_OF_SECURITY_PARAMETERS,
                        Some("root certificate installed"),
                    )
                    .await?;
                    link.send_replace(self.connection());
                }
            }
            Request::DeleteCertificate(req) => {
                let trust = if self.caller.is_some() && self.keys.security_profile().uses_tls() {
                    LinkTrust::Roots
                } else {
                    LinkTrust::Plain
                };
                let status = self.certificates.delete(&req.certificate_hash_data, trust);
                call.respond(DeleteCertificateResponse::new(status));
                if status == DeleteCertificateStatusEnum::Accepted {
                    self.store
                        .save(CERTIFICATES_DOC, &self.certificates)
                        .await?;
                    link.send_replace(self.connection());
                }
            }
            Request::GetInstalledCertificateIds(req) => {
                call.respond(self.certificates.installed_ids(req.certificate_type));
            }
            Request::CertificateSigned(req) => {
                let max = self.keys.certificate_signed_max_chain_size();
                match self
                    .certificates
                    .certificate_signed(&req.certificate_chain, max, now)
                {
                    Ok(()) => {
                        call.respond(CertificateSignedResponse::new(
                            CertificateSignedStatusEnum::Accepted,
                        ));
                        self.store
                            .save(CERTIFICATES_DOC, &self.certificates)
                            .await?;
                        link.send_replace(self.connection());
                    }
                    Err(e) => {
                        call.respond(CertificateSignedResponse::new(e.status()));
                        self.security_event(
                            event::INVALID_CHARGE_POINT_CERTIFICATE,
                            Some(&e.to_string()),
                        )
                        .await?;
                    }
                }
            }
            Request::ExtendedTriggerMessage(req) => {
                let count = u32::try_from(self.connectors.len()).unwrap_or(0);
                let connector = match req.connector_id {
                    None => None,
                    Some(id) => match u32::try_from(id).ok().filter(|n| (1..=count).contains(n)) {
                        Some(n) => Some(n),
                        None => {
                            call.respond(ExtendedTriggerMessageResponse::new(
                                TriggerMessageStatusEnum::Rejected,
                            ));
                            return Ok(Ok(()));
                        }
                    },
                };
                let accepted = match req.requested_message {
                    MessageTriggerEnum::BootNotification => {
                        self.registration != Registration::Accepted
                    }
                    MessageTriggerEnum::SignChargePointCertificate => {
                        self.keys.cpo_name().is_some()
                    }
                    _ => true,
                };
                let status = if accepted {
                    TriggerMessageStatusEnum::Accepted
                } else {
                    TriggerMessageStatusEnum::Rejected
                };
                // The confirmation goes first, then the triggered message.
                call.respond(ExtendedTriggerMessageResponse::new(status));
                if accepted {
                    self.extended_trigger(req.requested_message, connector)
                        .await?;
                }
            }
            _ => return Ok(Err(call)),
        }
        Ok(Ok(()))
    }

    async fn extended_trigger(
        &mut self,
        message: MessageTriggerEnum,
        connector: Option<u32>,
    ) -> Result<(), OcppError> {
        let legacy = match message {
            MessageTriggerEnum::BootNotification => Some(MessageTrigger::BootNotification),
            MessageTriggerEnum::Heartbeat => Some(MessageTrigger::Heartbeat),
            MessageTriggerEnum::MeterValues => Some(MessageTrigger::MeterValues),
            MessageTriggerEnum::StatusNotification => Some(MessageTrigger::StatusNotification),
            MessageTriggerEnum::FirmwareStatusNotification => {
                self.send(self.signed_firmware_status());
                None
            }
            MessageTriggerEnum::LogStatusNotification => {
                self.send(self.log_status());
                None
            }
            MessageTriggerEnum::SignChargePointCertificate => {
                self.sign_certificate().await?;
                None
            }
        };
        if let Some(legacy) = legacy {
            self.triggered(legacy, connector);
        }
        Ok(())
    }

    /// What a failed connection attempt says about security, logged as its event.
    pub(super) async fn connection_failed(&mut self, error: &ClientError) -> Result<(), OcppError> {
        match error {
            ClientError::Refused(401) => {
                self.security_event(event::FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM, None)
                    .await
            }
            ClientError::Tls(reason) => {
                self.security_event(event::INVALID_CENTRAL_SYSTEM_CERTIFICATE, Some(reason))
                    .await
            }
            _ => Ok(()),
        }
    }
}
