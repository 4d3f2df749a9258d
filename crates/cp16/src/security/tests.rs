//! Tests of the certificate store and the security log, with certificates made here (a CPO root,
//! a sub-CA, charge point certificates for our own requests, expired, non-CA and foreign ones) and
//! a fixed pair whose hash data were computed independently (`tests/data/README.md`).

use super::*;
use crate::keys::SecurityFacts;
use chrono::{DateTime, TimeDelta, Utc};
use proto_ocpp::v16::{
    CertificateHashData, CertificateSignedStatusEnum, CertificateUseEnum,
    DeleteCertificateStatusEnum, GetInstalledCertificateStatusEnum, HashAlgorithmEnum,
    InstallCertificateStatusEnum,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, date_time_ymd,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};
use std::sync::Arc;
use x509_parser::prelude::FromDer;

const CS: CertificateUseEnum = CertificateUseEnum::CentralSystemRootCertificate;
const MF: CertificateUseEnum = CertificateUseEnum::ManufacturerRootCertificate;

const FIXED_ROOT: &str = include_str!("../../tests/data/security-root.pem");
const FIXED_SUB: &str = include_str!("../../tests/data/security-sub-ca.pem");
const FACTORY_CERTIFICATE: &str = include_str!("../../tests/data/security-factory-cp.pem");
const FACTORY_KEY: &str = include_str!("../../tests/data/security-factory-cp.key");

fn now() -> DateTime<Utc> {
    at("2030-06-01T00:00:00Z")
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("test time")
}

fn policy() -> InstallPolicy {
    InstallPolicy {
        max_certificates: 20,
        additional_root_check: false,
    }
}

fn checked() -> InstallPolicy {
    InstallPolicy {
        additional_root_check: true,
        ..policy()
    }
}

type Ymd = (i32, u8, u8);
const FROM: Ymd = (2025, 1, 1);
const UNTIL: Ymd = (2040, 1, 1);

/// A certificate authority made for a test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn root(name: &str) -> Ca {
        Ca::build(ca_params(name, FROM, UNTIL), None)
    }

    fn root_valid(name: &str, from: Ymd, until: Ymd) -> Ca {
        Ca::build(ca_params(name, from, until), None)
    }

    /// A CA certificate signed by this one (a sub-CA, or a new root for a replacement).
    fn sub(&self, name: &str) -> Ca {
        Ca::build(ca_params(name, FROM, UNTIL), Some(self))
    }

    fn build(params: CertificateParams, signer: Option<&Ca>) -> Ca {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let certificate = match signer {
            None => params.self_signed(&key),
            Some(signer) => params.signed_by(&key, &signer.issuer),
        }
        .expect("certificate");
        Ca {
            pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Signs a charge point request as a client certificate.
    fn sign(&self, csr: &str) -> String {
        self.sign_with(csr, FROM, UNTIL, |_| {})
    }

    fn sign_with(
        &self,
        csr: &str,
        from: Ymd,
        until: Ymd,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> String {
        let mut request = CertificateSigningRequestParams::from_pem(csr).expect("our CSR parses");
        request.params.not_before = date_time_ymd(from.0, from.1, from.2);
        request.params.not_after = date_time_ymd(until.0, until.1, until.2);
        request.params.is_ca = IsCa::ExplicitNoCa;
        request.params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        request.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        adjust(&mut request.params);
        request.signed_by(&self.issuer).expect("signed").pem()
    }
}

fn ca_params(name: &str, from: Ymd, until: Ymd) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "joule test CPO");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date_time_ymd(from.0, from.1, from.2);
    params.not_after = date_time_ymd(until.0, until.1, until.2);
    params
}

/// A self-signed end-entity certificate.
fn not_a_ca() -> String {
    let mut params = ca_params("leaf", FROM, UNTIL);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    params.self_signed(&key).expect("certificate").pem()
}

/// `pem` with the last octet of its signature changed.
fn tampered(pem: &str) -> String {
    let mut der = CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("PEM")
        .to_vec();
    if let Some(last) = der.last_mut() {
        *last ^= 0x01;
    }
    x509::pem(&der)
}

/// Root certificates to install before a case.
type Setup<'a> = Vec<(CertificateUseEnum, &'a str)>;

fn store_with(roots: &[(CertificateUseEnum, &str)]) -> CertificateStore {
    let mut store = CertificateStore::new();
    for (kind, pem) in roots {
        store
            .install(*kind, pem, now(), policy())
            .expect("set-up install");
    }
    store
}

fn ids(store: &CertificateStore, kind: CertificateUseEnum) -> Vec<CertificateHashData> {
    store
        .installed_ids(kind)
        .certificate_hash_data
        .unwrap_or_default()
}

// InstallCertificate (M05).

#[test]
fn install_answers_every_case() {
    let root = Ca::root("CPO root");
    let sub = root.sub("CPO sub-CA");
    let next_root = root.sub("CPO root 2");
    let foreign = Ca::root("foreign root");
    let expired = Ca::root_valid("old root", (2010, 1, 1), (2020, 1, 1));
    let future = Ca::root_valid("future root", (2031, 1, 1), (2040, 1, 1));
    let two = format!("{}{}", root.pem, foreign.pem);
    let key_only = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .expect("key")
        .serialize_pem();
    let garbage_body = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    let full = InstallPolicy {
        max_certificates: 1,
        ..policy()
    };
    let leaf = not_a_ca();
    let renewed = Ca::build(ca_params("CPO root", FROM, UNTIL), Some(&root));
    let bad_signature = tampered(&root.pem);
    use InstallError as E;
    use Installation::*;
    type Expected = Result<Installation, InstallError>;
    let cases: Vec<(
        &str,
        Setup,
        CertificateUseEnum,
        &str,
        InstallPolicy,
        Expected,
    )> = vec![
        ("new root", vec![], CS, &root.pem, policy(), Ok(Added)),
        (
            "manufacturer root",
            vec![],
            MF,
            &root.pem,
            policy(),
            Ok(Added),
        ),
        (
            "same again",
            vec![(CS, &root.pem)],
            CS,
            &root.pem,
            policy(),
            Ok(AlreadyInstalled),
        ),
        (
            "same, other type",
            vec![(CS, &root.pem)],
            MF,
            &root.pem,
            policy(),
            Ok(Added),
        ),
        (
            "second root",
            vec![(CS, &root.pem)],
            CS,
            &foreign.pem,
            policy(),
            Ok(Added),
        ),
        (
            "sub-CA of an installed root",
            vec![(MF, &root.pem)],
            CS,
            &sub.pem,
            policy(),
            Ok(Added),
        ),
        (
            "not yet valid",
            vec![],
            CS,
            &future.pem,
            policy(),
            Ok(Added),
        ),
        (
            "renewed root signed by the installed one",
            vec![(CS, &root.pem)],
            CS,
            &renewed.pem,
            policy(),
            Ok(Added),
        ),
        (
            "renewed root, old one missing",
            vec![],
            CS,
            &renewed.pem,
            policy(),
            Err(E::BadSignature),
        ),
        (
            "sub-CA, issuer unknown",
            vec![],
            CS,
            &sub.pem,
            policy(),
            Err(E::UnknownIssuer),
        ),
        (
            "no PEM at all",
            vec![],
            CS,
            "hello",
            policy(),
            Err(E::CertificateCount(0)),
        ),
        (
            "two certificates",
            vec![],
            CS,
            &two,
            policy(),
            Err(E::CertificateCount(2)),
        ),
        (
            "a key",
            vec![],
            CS,
            &key_only,
            policy(),
            Err(E::NotPem("unexpected PrivateKey section".into())),
        ),
        (
            "not X.509",
            vec![],
            CS,
            garbage_body,
            policy(),
            Err(E::NotX509(String::new())),
        ),
        (
            "bad base64",
            vec![],
            CS,
            bad_base64,
            policy(),
            Err(E::NotPem(String::new())),
        ),
        ("not a CA", vec![], CS, &leaf, policy(), Err(E::NotCa)),
        (
            "expired",
            vec![],
            CS,
            &expired.pem,
            policy(),
            Err(E::Expired(at("2020-01-01T00:00:00Z"))),
        ),
        (
            "bad self-signature",
            vec![],
            CS,
            &bad_signature,
            policy(),
            Err(E::BadSignature),
        ),
        (
            "store full",
            vec![(MF, &foreign.pem)],
            CS,
            &root.pem,
            full,
            Err(E::StoreFull(1)),
        ),
        (
            "full, already there",
            vec![(CS, &root.pem)],
            CS,
            &root.pem,
            full,
            Ok(AlreadyInstalled),
        ),
        (
            "check: first root",
            vec![],
            CS,
            &root.pem,
            checked(),
            Ok(Added),
        ),
        (
            "check: signed by the root",
            vec![(CS, &root.pem)],
            CS,
            &next_root.pem,
            checked(),
            Ok(Replaced),
        ),
        (
            "check: replacing in a full store",
            vec![(CS, &root.pem)],
            CS,
            &next_root.pem,
            InstallPolicy {
                max_certificates: 1,
                ..checked()
            },
            Ok(Replaced),
        ),
        (
            "check: foreign root",
            vec![(CS, &root.pem)],
            CS,
            &foreign.pem,
            checked(),
            Err(E::NotSignedByCurrentRoot),
        ),
        (
            "check: manufacturer roots unaffected",
            vec![(MF, &root.pem)],
            MF,
            &foreign.pem,
            checked(),
            Ok(Added),
        ),
    ];
    for (name, setup, kind, pem, policy, expected) in cases {
        let mut store = store_with(&setup);
        let before = store.clone();
        let result = store.install(kind, pem, now(), policy);
        match (&result, &expected) {
            // The parsers' wording is not ours to pin down.
            (Err(E::NotX509(_)), Err(E::NotX509(_))) => {}
            (Err(E::NotPem(_)), Err(E::NotPem(want))) if want.is_empty() => {}
            _ => assert_eq!(result, expected, "{name}"),
        }
        match result {
            Ok(Added) | Ok(Replaced) => assert_ne!(store, before, "{name}: store changed"),
            Ok(AlreadyInstalled) | Err(_) => assert_eq!(store, before, "{name}: nothing changed"),
        }
        if let Err(e) = expected {
            assert_eq!(e.status(), InstallCertificateStatusEnum::Rejected, "{name}");
        }
    }
}

#[test]
fn a_replaced_root_stays_as_fallback_until_confirmed() {
    let root = Ca::root("CPO root");
    let next = root.sub("CPO root 2");
    let third = next.sub("CPO root 3");
    let mut store = store_with(&[(CS, &root.pem)]);
    assert_eq!(
        store.install(CS, &next.pem, now(), checked()),
        Ok(Installation::Replaced)
    );
    assert_eq!(store.central_system_roots_pem(), x509_pem(&next.pem));
    assert_eq!(
        store.fallback_root_pem(),
        Some(x509_pem(&root.pem).as_str())
    );
    assert_eq!(ids(&store, CS).len(), 2, "the fallback is listed too");
    // Another replacement before any connection keeps the root that last worked.
    assert_eq!(
        store.install(CS, &third.pem, now(), checked()),
        Ok(Installation::Replaced)
    );
    assert_eq!(store.central_system_roots_pem(), x509_pem(&third.pem));
    assert_eq!(
        store.fallback_root_pem(),
        Some(x509_pem(&root.pem).as_str())
    );
    assert!(store.confirm_roots());
    assert_eq!(store.fallback_root_pem(), None);
    assert!(!store.confirm_roots());
    assert_eq!(ids(&store, CS).len(), 1);
}

#[test]
fn a_root_signed_by_another_carries_that_one_s_key_hash() {
    let root = Ca::root("CPO root");
    let renewed = Ca::build(ca_params("CPO root", FROM, UNTIL), Some(&root));
    let next = root.sub("CPO root 2");
    for (pem, policy) in [(&renewed.pem, policy()), (&next.pem, checked())] {
        let mut store = store_with(&[(CS, &root.pem)]);
        store.install(CS, pem, now(), policy).expect("installed");
        let expected = hash::digest_hex(HashAlgorithmEnum::Sha256, &root_key(&root));
        for id in ids(&store, CS) {
            assert_eq!(id.issuer_key_hash, expected);
        }
        // The root that signed it may go; the hash data stay.
        store.confirm_roots();
        let root_id = ids(&store_with(&[(CS, &root.pem)]), CS).remove(0);
        store.delete(&root_id, LinkTrust::Plain);
        let remaining = ids(&store, CS);
        assert_eq!(remaining.len(), 1);
        assert_eq!(remaining[0].issuer_key_hash, expected);
    }
}

/// PEM as the store writes it.
fn x509_pem(pem: &str) -> String {
    x509::pem(&CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM"))
}

// GetInstalledCertificateIds (M03) and hash data.

/// OpenSSL's OCSP CertID of the fixed root (its own issuer), tests/data/README.md.
const ROOT_NAME_SHA256: &str = "2687F7CBAAB71AD119D3C112DF083F6CB34094D5FEF01E45B48C57BC005ABA4E";
const ROOT_KEY_SHA256: &str = "71E0D80DB488D09818CF725B89643707D8A70926DB41BEF5372781C860B6C053";
const ROOT_NAME_SHA384: &str = "2CE9854190A3AB47B49BB0C4F0A75D89FC0A401BFB238F46140B4EE563E48509E854BFF64B2D8C3A78A7F872295CC67C";
const ROOT_KEY_SHA384: &str = "3CAE571D64A2261FDA82A7D3009DF54AFB096463AAF33F306DA8C930B7FD7B775E46F26B0F46523EF20621DDAAB4F033";
const ROOT_NAME_SHA512: &str = "A0072266267C4007514356AFC69492C7DC2251ACB4075C9C4A2F2F803F464E0A02BB1C9F60045F1F4F231D3625AEBC1C7142FE77CA500AEA305EC75F5821D666";
const ROOT_KEY_SHA512: &str = "869A9D99F870425194A1714806B6F900D1BBB9CDE62D96B90B4AF3E449C87744B34F3C847AB7884A27E0749FE052940D7FF112A01C7598DEA892D26BF9037921";

fn hash(algorithm: HashAlgorithmEnum, name: &str, key: &str, serial: &str) -> CertificateHashData {
    CertificateHashData::new(algorithm, name.into(), key.into(), serial.into())
}

#[test]
fn installed_ids_match_independently_computed_hash_data() {
    let mut store = CertificateStore::new();
    let response = store.installed_ids(CS);
    assert_eq!(response.status, GetInstalledCertificateStatusEnum::NotFound);
    assert_eq!(response.certificate_hash_data, None);
    store
        .install(CS, FIXED_ROOT, now(), policy())
        .expect("fixed root");
    store
        .install(CS, FIXED_SUB, now(), policy())
        .expect("fixed sub-CA");
    let response = store.installed_ids(CS);
    assert_eq!(response.status, GetInstalledCertificateStatusEnum::Accepted);
    let lower = |s: &str| s.to_ascii_lowercase();
    assert_eq!(
        response.certificate_hash_data,
        Some(vec![
            hash(
                HashAlgorithmEnum::Sha256,
                &lower(ROOT_NAME_SHA256),
                &lower(ROOT_KEY_SHA256),
                "FFF"
            ),
            hash(
                HashAlgorithmEnum::Sha256,
                &lower(ROOT_NAME_SHA256),
                &lower(ROOT_KEY_SHA256),
                "8000000000000001"
            ),
        ])
    );
    let manufacturer = store.installed_ids(MF);
    assert_eq!(
        manufacturer.status,
        GetInstalledCertificateStatusEnum::NotFound
    );
    // The sub-CA keeps its issuer's key hash after the root is gone.
    let root_id = hash(
        HashAlgorithmEnum::Sha256,
        ROOT_NAME_SHA256,
        ROOT_KEY_SHA256,
        "FFF",
    );
    assert_eq!(
        store.delete(&root_id, LinkTrust::Plain),
        DeleteCertificateStatusEnum::Accepted
    );
    assert_eq!(
        ids(&store, CS),
        vec![hash(
            HashAlgorithmEnum::Sha256,
            &lower(ROOT_NAME_SHA256),
            &lower(ROOT_KEY_SHA256),
            "8000000000000001"
        )]
    );
}

// DeleteCertificate (M04).

#[test]
fn delete_matches_every_algorithm_ignoring_case_and_leading_zeros() {
    use HashAlgorithmEnum::*;
    let cases = [
        hash(Sha256, ROOT_NAME_SHA256, ROOT_KEY_SHA256, "FFF"),
        hash(
            Sha256,
            &ROOT_NAME_SHA256.to_lowercase(),
            ROOT_KEY_SHA256,
            "fff",
        ),
        hash(Sha256, ROOT_NAME_SHA256, ROOT_KEY_SHA256, "0FFF"),
        hash(Sha384, ROOT_NAME_SHA384, ROOT_KEY_SHA384, "FFF"),
        hash(Sha512, ROOT_NAME_SHA512, ROOT_KEY_SHA512, "0fff"),
    ];
    for query in cases {
        let mut store = store_with(&[(MF, FIXED_ROOT)]);
        assert_eq!(
            store.delete(&query, LinkTrust::Plain),
            DeleteCertificateStatusEnum::Accepted,
            "{query:?}"
        );
        assert_eq!(store.installed_ids(MF).certificate_hash_data, None);
        assert_eq!(
            store.delete(&query, LinkTrust::Plain),
            DeleteCertificateStatusEnum::NotFound
        );
    }
    let misses = [
        hash(Sha256, ROOT_NAME_SHA256, ROOT_KEY_SHA256, "FFE"),
        hash(Sha256, ROOT_NAME_SHA256, ROOT_NAME_SHA256, "FFF"),
        hash(Sha256, ROOT_KEY_SHA256, ROOT_KEY_SHA256, "FFF"),
        hash(Sha384, ROOT_NAME_SHA256, ROOT_KEY_SHA256, "FFF"),
        hash(Sha256, "", "", ""),
    ];
    for query in misses {
        let mut store = store_with(&[(MF, FIXED_ROOT)]);
        assert_eq!(
            store.delete(&query, LinkTrust::Plain),
            DeleteCertificateStatusEnum::NotFound,
            "{query:?}"
        );
        assert_eq!(ids(&store, MF).len(), 1);
    }
}

#[test]
fn delete_keeps_what_the_link_or_the_charge_point_needs() {
    let root = Ca::root("CPO root");
    let other = Ca::root("other root");
    let next = root.sub("CPO root 2");
    let id_of = |pem: &str| ids(&store_with(&[(CS, pem)]), CS).remove(0);
    let root_id = id_of(&root.pem);
    let other_id = id_of(&other.pem);
    use DeleteCertificateStatusEnum::*;
    let cases: Vec<(&str, Setup, &CertificateHashData, LinkTrust, _)> = vec![
        (
            "only root, TLS link on it",
            vec![(CS, &root.pem)],
            &root_id,
            LinkTrust::Roots,
            Failed,
        ),
        (
            "only root, no TLS link",
            vec![(CS, &root.pem)],
            &root_id,
            LinkTrust::Plain,
            Accepted,
        ),
        (
            "only root, link on the fallback",
            vec![(CS, &root.pem)],
            &root_id,
            LinkTrust::Fallback,
            Accepted,
        ),
        (
            "one of two roots",
            vec![(CS, &root.pem), (CS, &other.pem)],
            &other_id,
            LinkTrust::Roots,
            Accepted,
        ),
        (
            "manufacturer root",
            vec![(MF, &root.pem)],
            &root_id,
            LinkTrust::Roots,
            Accepted,
        ),
        (
            "unknown",
            vec![(CS, &root.pem)],
            &other_id,
            LinkTrust::Roots,
            NotFound,
        ),
    ];
    for (name, setup, query, link, expected) in cases {
        let mut store = store_with(&setup);
        let before = store.clone();
        assert_eq!(store.delete(query, link), expected, "{name}");
        assert_eq!(store == before, expected != Accepted, "{name}");
    }

    // The fallback root: kept while the link depends on it.
    let mut store = store_with(&[(CS, &root.pem)]);
    store
        .install(CS, &next.pem, now(), checked())
        .expect("replacement");
    assert_eq!(store.delete(&root_id, LinkTrust::Fallback), Failed);
    assert_eq!(store.delete(&root_id, LinkTrust::Roots), Accepted);
    assert_eq!(store.fallback_root_pem(), None);

    // The charge point certificate is never deleted (M04.FR.05).
    let (store, _) = with_charge_point(&root, &root);
    let leaf = CertificateDer::from_pem_slice(
        store
            .identity(now())
            .expect("identity")
            .chain_pem()
            .as_bytes(),
    )
    .expect("leaf");
    let parsed = x509::parse(&leaf).expect("X.509");
    let query = hash::hash_data(HashAlgorithmEnum::Sha256, &parsed, &root_key(&root));
    let mut store = store;
    assert_eq!(store.delete(&query, LinkTrust::Plain), Failed);
    assert!(store.identity(now()).is_some());
}

fn root_key(ca: &Ca) -> Vec<u8> {
    let der = CertificateDer::from_pem_slice(ca.pem.as_bytes()).expect("PEM");
    x509::public_key(&x509::parse(&der).expect("X.509")).to_vec()
}

// SignCertificate and CertificateSigned (A02, A03).

/// A store trusting `root` with a charge point certificate issued by `issuer` (a sub-CA of
/// `root`, or `root` itself); returns the chain that was accepted.
fn with_charge_point(root: &Ca, issuer: &Ca) -> (CertificateStore, String) {
    let mut store = store_with(&[(CS, &root.pem)]);
    let csr = store
        .create_csr("CP-0001", Some("joule CPO"), now())
        .expect("CSR");
    let mut chain = issuer.sign(&csr);
    if !std::ptr::eq(root, issuer) {
        chain.push_str(&issuer.pem);
    }
    store
        .certificate_signed(&chain, 10_000, now())
        .expect("accepted");
    (store, chain)
}

#[test]
fn a_signing_request_has_a_fresh_p256_key_and_the_subject() {
    let mut store = CertificateStore::new();
    let first = store
        .create_csr("CP-0001", Some("joule CPO"), now())
        .expect("CSR");
    let second = store
        .create_csr("CP-0001", Some("joule CPO"), now())
        .expect("CSR");
    let mut keys = Vec::new();
    for csr in [&first, &second] {
        assert!(csr.len() <= 5500);
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let der = CertificateSigningRequestDer::from_pem_slice(csr.as_bytes()).expect("PEM");
        let (rest, request) =
            x509_parser::certification_request::X509CertificationRequest::from_der(der.as_ref())
                .expect("PKCS#10");
        assert!(rest.is_empty());
        request.verify_signature().expect("self-signed request");
        let info = &request.certification_request_info;
        let common_name = info.subject.iter_common_name().next();
        assert_eq!(common_name.and_then(|a| a.as_str().ok()), Some("CP-0001"));
        let organization = info.subject.iter_organization().next();
        assert_eq!(
            organization.and_then(|a| a.as_str().ok()),
            Some("joule CPO")
        );
        assert_eq!(
            info.subject_pki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok()),
            Some(x509_parser::oid_registry::OID_EC_P256)
        );
        keys.push(info.subject_pki.subject_public_key.data.to_vec());
    }
    assert_ne!(keys[0], keys[1], "a new key pair each time");
    assert!(store.has_pending_csr());
    assert!(store.cancel_csr());
    assert!(!store.has_pending_csr());
    assert!(!store.cancel_csr());
}

#[test]
fn a_signing_request_needs_usable_names() {
    let long = "x".repeat(65);
    let cases = [
        ("CP-1", None, Err(CsrError::MissingCpoName)),
        ("", Some("CPO"), Err(CsrError::CommonName(String::new()))),
        (
            long.as_str(),
            Some("CPO"),
            Err(CsrError::CommonName(long.clone())),
        ),
        (
            "wss://cp.example",
            Some("CPO"),
            Err(CsrError::CommonName("wss://cp.example".into())),
        ),
        (
            "10.0.0.7",
            Some("CPO"),
            Err(CsrError::CommonName("10.0.0.7".into())),
        ),
        ("::1", Some("CPO"), Err(CsrError::CommonName("::1".into()))),
        ("CP-1", Some(""), Err(CsrError::Organization(String::new()))),
        (
            "CP-1",
            Some(long.as_str()),
            Err(CsrError::Organization(long.clone())),
        ),
        ("CP-1", Some("CPO"), Ok(())),
    ];
    for (cn, cpo, expected) in cases {
        let mut store = CertificateStore::new();
        let result = store.create_csr(cn, cpo, now()).map(|_| ());
        assert_eq!(result, expected, "{cn:?} {cpo:?}");
        assert_eq!(store.has_pending_csr(), expected.is_ok());
    }
}

/// The certificate authorities of the CertificateSigned cases.
struct Pki {
    root: Ca,
    sub: Ca,
    foreign_sub: Ca,
}

/// Builds a CertificateSigned chain for a request.
type MakeChain = fn(&Pki, &str) -> String;

#[test]
fn certificate_signed_answers_every_case() {
    let root = Ca::root("CPO root");
    let sub = root.sub("CPO sub-CA");
    let foreign_sub = Ca::root("foreign root").sub("foreign sub-CA");
    let pki = Pki {
        root,
        sub,
        foreign_sub,
    };
    let chain =
        |reason: &str| -> Result<(), SignedError> { Err(SignedError::Chain(reason.into())) };
    let cases: Vec<(&str, MakeChain, Result<(), SignedError>)> = vec![
        (
            "leaf + sub-CA",
            |p, csr| p.sub.sign(csr) + &p.sub.pem,
            Ok(()),
        ),
        (
            "leaf + sub-CA + root",
            |p, csr| p.sub.sign(csr) + &p.sub.pem + &p.root.pem,
            Ok(()),
        ),
        (
            "leaf + root, as the central system's own authority sends it",
            |p, csr| p.root.sign(csr) + &p.root.pem,
            Ok(()),
        ),
        ("leaf signed by the root", |p, csr| p.root.sign(csr), Ok(())),
        (
            "not yet valid",
            |p, csr| p.sub.sign_with(csr, (2031, 1, 1), (2033, 1, 1), |_| {}) + &p.sub.pem,
            Ok(()),
        ),
        (
            "sub-CA missing",
            |p, csr| p.sub.sign(csr),
            chain("UnknownIssuer"),
        ),
        (
            "foreign hierarchy",
            |p, csr| p.foreign_sub.sign(csr) + &p.foreign_sub.pem,
            chain("UnknownIssuer"),
        ),
        (
            "expired",
            |p, csr| p.sub.sign_with(csr, (2025, 1, 1), (2030, 1, 1), |_| {}) + &p.sub.pem,
            Err(SignedError::Expired(at("2030-01-01T00:00:00Z"))),
        ),
        (
            "a CA certificate",
            |p, csr| {
                p.sub.sign_with(csr, FROM, UNTIL, |params| {
                    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
                    params.extended_key_usages.clear();
                }) + &p.sub.pem
            },
            chain("CaUsedAsEndEntity"),
        ),
        (
            "server certificate",
            |p, csr| {
                p.sub.sign_with(csr, FROM, UNTIL, |params| {
                    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]
                }) + &p.sub.pem
            },
            chain("client"),
        ),
        (
            "another key",
            |p, _| {
                let mut other = CertificateStore::new();
                let csr = other
                    .create_csr("CP-0001", Some("joule CPO"), now())
                    .expect("CSR");
                p.sub.sign(&csr) + &p.sub.pem
            },
            Err(SignedError::KeyMismatch),
        ),
        (
            "empty",
            |_, _| String::new(),
            Err(SignedError::NoCertificate),
        ),
        (
            "not X.509",
            |_, _| "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            Err(SignedError::NotX509(String::new())),
        ),
        (
            "not PEM",
            |_, _| "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n".into(),
            Err(SignedError::NotPem(String::new())),
        ),
        (
            "a key in the chain",
            |p, csr| p.sub.sign(csr) + &KeyPair::generate().expect("key").serialize_pem(),
            Err(SignedError::NotPem("unexpected PrivateKey section".into())),
        ),
    ];
    for (name, make, expected) in cases {
        let mut store = store_with(&[(CS, &pki.root.pem)]);
        let csr = store
            .create_csr("CP-0001", Some("joule CPO"), now())
            .expect("CSR");
        let chain = make(&pki, &csr);
        let before = store.clone();
        let result = store.certificate_signed(&chain, 10_000, now());
        match (&result, &expected) {
            (Err(SignedError::Chain(got)), Err(SignedError::Chain(want))) => {
                assert!(got.contains(want.as_str()), "{name}: {got}")
            }
            // The parsers' wording is not ours to pin down.
            (Err(SignedError::NotX509(_)), Err(SignedError::NotX509(_))) => {}
            (Err(SignedError::NotPem(_)), Err(SignedError::NotPem(want))) if want.is_empty() => {}
            _ => assert_eq!(result, expected, "{name}"),
        }
        if let Err(error) = &result {
            assert_eq!(error.status(), CertificateSignedStatusEnum::Rejected);
            assert_eq!(store, before, "{name}: nothing changed");
            assert!(
                store.has_pending_csr(),
                "{name}: the key waits for a corrected chain"
            );
        } else {
            assert!(!store.has_pending_csr(), "{name}: the key is used");
            assert!(
                store
                    .facts(at("2032-01-01T00:00:00Z"))
                    .charge_point_certificate
            );
        }
    }
}

#[test]
fn certificate_signed_rejects_what_it_cannot_check() {
    let root = Ca::root("CPO root");
    // Longer than CertificateSignedMaxChainSize.
    let mut store = store_with(&[(CS, &root.pem)]);
    let csr = store.create_csr("CP-1", Some("CPO"), now()).expect("CSR");
    let chain = root.sign(&csr);
    let length = chain.chars().count();
    assert_eq!(
        store.certificate_signed(&chain, (length - 1) as u32, now()),
        Err(SignedError::TooLong {
            length,
            max: length - 1
        })
    );
    assert_eq!(
        store.certificate_signed(&chain, length as u32, now()),
        Ok(())
    );
    // Once used, the key is gone.
    assert_eq!(
        store.certificate_signed(&chain, 10_000, now()),
        Err(SignedError::NoPendingRequest)
    );
    // Without a request.
    let mut fresh = store_with(&[(CS, &root.pem)]);
    assert_eq!(
        fresh.certificate_signed(&chain, 10_000, now()),
        Err(SignedError::NoPendingRequest)
    );
    // Without a root to check against.
    let mut rootless = CertificateStore::new();
    let csr = rootless
        .create_csr("CP-1", Some("CPO"), now())
        .expect("CSR");
    assert_eq!(
        rootless.certificate_signed(&root.sign(&csr), 10_000, now()),
        Err(SignedError::NoRoot)
    );
}

#[test]
fn a_chain_may_lead_to_the_fallback_root() {
    let root = Ca::root("CPO root");
    let next = root.sub("CPO root 2");
    let mut store = store_with(&[(CS, &root.pem)]);
    store
        .install(CS, &next.pem, now(), checked())
        .expect("replacement");
    let csr = store.create_csr("CP-1", Some("CPO"), now()).expect("CSR");
    assert_eq!(
        store.certificate_signed(&root.sign(&csr), 10_000, now()),
        Ok(())
    );
}

#[test]
fn the_newest_valid_certificate_is_used_and_the_old_one_kept_a_month() {
    let root = Ca::root("CPO root");
    let mut store = store_with(&[(CS, &root.pem)]);
    let csr = store.create_csr("CP-1", Some("CPO"), now()).expect("CSR");
    let first = root.sign_with(&csr, (2030, 1, 1), (2030, 7, 31), |_| {});
    store
        .certificate_signed(&first, 10_000, now())
        .expect("first");
    let first_identity = store.identity(now()).expect("identity").clone();
    assert_eq!(first_identity.chain_pem(), x509_pem(&first));
    assert_eq!(store.fallback_identity(now()), None);

    // A new certificate valid from tomorrow: the old one serves until then.
    let csr = store.create_csr("CP-1", Some("CPO"), now()).expect("CSR");
    let second = root.sign_with(&csr, (2030, 6, 2), (2032, 1, 1), |_| {});
    store
        .certificate_signed(&second, 10_000, now())
        .expect("second");
    assert_eq!(store.identity(now()), Some(&first_identity));
    let tomorrow = at("2030-06-02T00:00:00Z");
    let second_identity = store.identity(tomorrow).expect("identity").clone();
    assert_eq!(second_identity.chain_pem(), x509_pem(&second));
    assert_ne!(second_identity.key_pem(), first_identity.key_pem());
    assert_eq!(store.fallback_identity(tomorrow), Some(&first_identity));

    // The old one goes when its month is over (or it expired).
    assert!(!store.expire(tomorrow));
    assert!(store.expire(now() + TimeDelta::days(30)));
    assert_eq!(store.fallback_identity(tomorrow), None);
    assert_eq!(store.identity(tomorrow), Some(&second_identity));
}

#[test]
fn renewal_is_due_a_month_before_expiry_and_asked_once() {
    let root = Ca::root("CPO root");
    let mut store = store_with(&[(CS, &root.pem)]);
    assert_eq!(store.renewal_time(), None);
    assert!(!store.needs_renewal(now()));
    let csr = store.create_csr("CP-1", Some("CPO"), now()).expect("CSR");
    let chain = root.sign_with(&csr, (2030, 1, 1), (2030, 7, 31), |_| {});
    store
        .certificate_signed(&chain, 10_000, now())
        .expect("accepted");
    let due = at("2030-07-01T00:00:00Z");
    assert_eq!(store.renewal_time(), Some(due));
    let cases = [
        (now(), false),
        (due - TimeDelta::seconds(1), false),
        (due, true),
        (at("2030-08-15T00:00:00Z"), true),
    ];
    for (time, expected) in cases {
        assert_eq!(store.needs_renewal(time), expected, "{time}");
    }
    store
        .create_csr("CP-1", Some("CPO"), due)
        .expect("renewal request");
    assert!(!store.needs_renewal(due + TimeDelta::days(1)), "no retry");
    store.cancel_csr();
    assert!(
        !store.needs_renewal(due + TimeDelta::days(1)),
        "still no retry"
    );
}

#[test]
fn facts_follow_the_installed_certificates() {
    let root = Ca::root("CPO root");
    let future = Ca::root_valid("future root", (2031, 1, 1), (2040, 1, 1));
    let cases: Vec<(&str, CertificateStore, SecurityFacts)> = vec![
        ("empty", CertificateStore::new(), SecurityFacts::default()),
        (
            "root",
            store_with(&[(CS, &root.pem)]),
            SecurityFacts {
                central_system_root_certificate: true,
                charge_point_certificate: false,
            },
        ),
        (
            "manufacturer root only",
            store_with(&[(MF, &root.pem)]),
            SecurityFacts::default(),
        ),
        (
            "root not valid yet",
            store_with(&[(CS, &future.pem)]),
            SecurityFacts::default(),
        ),
        (
            "root and certificate",
            with_charge_point(&root, &root).0,
            SecurityFacts {
                central_system_root_certificate: true,
                charge_point_certificate: true,
            },
        ),
    ];
    for (name, store, expected) in cases {
        assert_eq!(store.facts(now()), expected, "{name}");
    }
    let (store, _) = with_charge_point(&root, &root);
    assert!(
        !store
            .facts(at("2041-01-01T00:00:00Z"))
            .charge_point_certificate
    );
}

#[test]
fn provisioned_credentials_need_a_matching_key() {
    let root = Ca::root("factory root");
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "CP-1");
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2035, 1, 1);
    let chain = params
        .signed_by(&key, &root.issuer)
        .expect("certificate")
        .pem();
    let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .expect("key")
        .serialize_pem();
    let own = key.serialize_pem();
    let cases = [
        ("PKCS#8 key", chain.as_str(), own.as_str(), Ok(())),
        ("SEC1 key", FACTORY_CERTIFICATE, FACTORY_KEY, Ok(())),
        (
            "another key",
            chain.as_str(),
            other.as_str(),
            Err(SignedError::KeyMismatch),
        ),
        (
            "key of another certificate",
            FACTORY_CERTIFICATE,
            own.as_str(),
            Err(SignedError::KeyMismatch),
        ),
        (
            "no key",
            chain.as_str(),
            "not a key",
            Err(SignedError::Key(String::new())),
        ),
        (
            "no certificate",
            "",
            own.as_str(),
            Err(SignedError::NoCertificate),
        ),
    ];
    for (name, chain, key, expected) in cases {
        let mut store = CertificateStore::new();
        let result = store.provision(chain, key, now());
        match (&result, &expected) {
            (Err(SignedError::Key(_)), Err(SignedError::Key(_))) => {}
            _ => assert_eq!(result, expected, "{name}"),
        }
        let identity = store.identity(now());
        assert_eq!(identity.is_some(), expected.is_ok(), "{name}");
        if let Some(identity) = identity {
            // The TLS client reads the stored key back.
            let stored = PrivateKeyDer::from_pem_slice(identity.key_pem().as_bytes()).expect("key");
            let given = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
            assert_eq!(stored.secret_der(), given.secret_der(), "{name}");
        }
    }
}

#[test]
fn the_tls_client_accepts_the_roots_and_the_identity() {
    let root = Ca::root("CPO root");
    let sub = root.sub("CPO sub-CA");
    let (store, _) = with_charge_point(&root, &sub);
    let roots = store.central_system_roots_pem();
    let mut anchors = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots.as_bytes()) {
        anchors.add(cert.expect("root PEM")).expect("anchor");
    }
    assert_eq!(anchors.len(), 1);
    let identity = store.identity(now()).expect("identity");
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(identity.chain_pem().as_bytes())
            .collect::<Result<_, _>>()
            .expect("chain PEM");
    assert_eq!(chain.len(), 2, "leaf and sub-CA");
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem().as_bytes()).expect("key PEM");
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(anchors)
        .with_client_auth_cert(chain, key)
        .expect("the key fits the certificate");
}

#[test]
fn firmware_signing_certificates_need_a_manufacturer_root() {
    let manufacturer = Ca::root("manufacturer root");
    let cpo = Ca::root("CPO root");
    let signing = |ca: &Ca, until: Ymd| {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "firmware signing");
        params.not_before = date_time_ymd(2025, 1, 1);
        params.not_after = date_time_ymd(until.0, until.1, until.2);
        params
            .signed_by(&key, &ca.issuer)
            .expect("certificate")
            .pem()
    };
    let store = store_with(&[(MF, &manufacturer.pem), (CS, &cpo.pem)]);
    let cases = [
        (signing(&manufacturer, UNTIL), Ok(())),
        (
            signing(&manufacturer, (2030, 1, 1)),
            Err(SigningCertificateError::NotValid(now())),
        ),
        (
            signing(&cpo, UNTIL),
            Err(SigningCertificateError::UntrustedIssuer),
        ),
        (
            signing(&manufacturer.sub("sub"), UNTIL),
            Err(SigningCertificateError::UntrustedIssuer),
        ),
    ];
    for (pem, expected) in cases {
        assert_eq!(
            store.verify_firmware_signing_certificate(&pem, now()),
            expected
        );
    }
    assert!(matches!(
        store.verify_firmware_signing_certificate("nothing", now()),
        Err(SigningCertificateError::Unreadable(_))
    ));
}

#[test]
fn damaged_certificates_are_refused_without_panicking() {
    let root = Ca::root("CPO root");
    let der = CertificateDer::from_pem_slice(root.pem.as_bytes())
        .expect("PEM")
        .to_vec();
    let mut store = store_with(&[(MF, FIXED_ROOT)]);
    store.create_csr("CP-1", Some("CPO"), now()).expect("CSR");
    let before = store.clone();
    let mut damaged = Vec::new();
    for i in 0..der.len() {
        damaged.push(der[..i].to_vec());
        let mut flipped = der.clone();
        flipped[i] ^= 0xff;
        damaged.push(flipped);
    }
    let mut accepted = 0;
    for bytes in damaged {
        let pem = x509::pem(&bytes);
        let mut trial = store.clone();
        if trial.install(CS, &pem, now(), policy()).is_ok() {
            // A flip in an unused corner (e.g. a string's content) may leave a valid root.
            accepted += 1;
        }
        assert!(store.certificate_signed(&pem, 10_000, now()).is_err());
        assert!(store.provision(&pem, FACTORY_KEY, now()).is_err());
        assert!(
            store
                .verify_firmware_signing_certificate(&pem, now())
                .is_err()
        );
    }
    assert_eq!(store, before);
    assert!(
        accepted < der.len() / 10,
        "{accepted} damaged roots accepted"
    );
}

// Persistence.

#[test]
fn the_store_survives_a_json_round_trip_without_showing_keys() {
    let root = Ca::root("CPO root");
    let sub = root.sub("CPO sub-CA");
    let next = root.sub("CPO root 2");
    let (mut store, _) = with_charge_point(&root, &sub);
    store
        .install(MF, FIXED_ROOT, now(), policy())
        .expect("manufacturer root");
    store
        .install(CS, &next.pem, now(), checked())
        .expect("replacement");
    let csr = store
        .create_csr("CP-0001", Some("CPO"), now())
        .expect("CSR");
    store
        .certificate_signed(&(sub.sign(&csr) + &sub.pem), 10_000, now())
        .expect("renewed");
    store
        .create_csr("CP-0001", Some("CPO"), now())
        .expect("CSR");
    let json = serde_json::to_string(&store).expect("JSON");
    let restored: CertificateStore = serde_json::from_str(&json).expect("restored");
    assert_eq!(restored, store);
    assert_eq!(restored.installed_ids(CS), store.installed_ids(CS));
    assert!(restored.has_pending_csr());
    assert!(restored.fallback_identity(now()).is_some());
    let shown = format!("{store:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(!shown.contains("BEGIN"), "{shown}");
    // An empty or partial document is an empty store.
    let empty: CertificateStore = serde_json::from_str("{}").expect("empty");
    assert_eq!(empty, CertificateStore::new());
}

// The security log (A04, N01).

#[test]
fn critical_events_are_the_starred_ones() {
    use event::*;
    let critical = [
        (FIRMWARE_UPDATED, true),
        (FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM, false),
        (CENTRAL_SYSTEM_FAILED_TO_AUTHENTICATE, false),
        (SETTING_SYSTEM_TIME, true),
        (STARTUP_OF_THE_DEVICE, true),
        (RESET_OR_REBOOT, true),
        (SECURITY_LOG_WAS_CLEARED, true),
        (RECONFIGURATION_OF_SECURITY_PARAMETERS, false),
        (MEMORY_EXHAUSTION, true),
        (INVALID_MESSAGES, false),
        (ATTEMPTED_REPLAY_ATTACKS, false),
        (TAMPER_DETECTION_ACTIVATED, true),
        (INVALID_FIRMWARE_SIGNATURE, false),
        (INVALID_FIRMWARE_SIGNING_CERTIFICATE, false),
        (INVALID_CENTRAL_SYSTEM_CERTIFICATE, false),
        (INVALID_CHARGE_POINT_CERTIFICATE, false),
        (INVALID_TLS_VERSION, false),
        (INVALID_TLS_CIPHER_SUITE, false),
    ];
    assert_eq!(ALL, critical.map(|(kind, _)| kind));
    for (kind, expected) in critical {
        assert_eq!(is_critical(kind), expected, "{kind}");
        assert!(kind.len() <= 50 && !kind.contains(' '));
    }
    assert!(!is_critical("VendorSpecificEvent"));
    assert!(!is_critical("firmwareupdated"));
    assert_eq!(INVALID_TLS_VERSION, "InvalidTLSVersion");
    assert_eq!(
        FAILED_TO_AUTHENTICATE_AT_CENTRAL_SYSTEM,
        "FailedToAuthenticateAtCentralSystem"
    );
}

#[test]
fn the_log_rolls_over_and_cuts_long_fields() {
    let mut log = SecurityLog::new(3);
    let t = |minute: i64| now() + TimeDelta::minutes(minute);
    for (i, kind) in [
        event::STARTUP_OF_THE_DEVICE,
        event::INVALID_MESSAGES,
        event::SETTING_SYSTEM_TIME,
        event::RESET_OR_REBOOT,
    ]
    .into_iter()
    .enumerate()
    {
        log.record(kind, t(i as i64), None);
    }
    assert_eq!(log.len(), 3);
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            event::INVALID_MESSAGES,
            event::SETTING_SYSTEM_TIME,
            event::RESET_OR_REBOOT
        ]
    );
    let long = "é".repeat(300);
    let entry = log.record(&"T".repeat(60), t(10), Some(&long));
    assert_eq!(entry.kind.chars().count(), 50);
    assert_eq!(
        entry.tech_info.as_deref().map(|s| s.chars().count()),
        Some(255)
    );
    assert!(!entry.is_critical());
    log.set_capacity(1);
    assert_eq!(log.len(), 1);
    assert_eq!(log.iter().next(), Some(&entry));
    assert_eq!(SecurityLog::new(0).capacity(), 1);
}

#[test]
fn the_log_answers_time_ranges_and_clears_with_an_event() {
    let mut log = SecurityLog::default();
    assert!(log.is_empty());
    let t = |minute: i64| now() + TimeDelta::minutes(minute);
    log.record(event::STARTUP_OF_THE_DEVICE, t(0), None);
    log.record(
        event::INVALID_MESSAGES,
        t(5),
        Some("bad frame\nsecond line"),
    );
    log.record(event::FIRMWARE_UPDATED, t(10), Some("1.2.3"));
    let cases = [
        (None, None, 3),
        (Some(t(5)), None, 2),
        (None, Some(t(5)), 2),
        (Some(t(5)), Some(t(5)), 1),
        (Some(t(11)), None, 0),
    ];
    for (oldest, latest, count) in cases {
        assert_eq!(
            log.between(oldest, latest).count(),
            count,
            "{oldest:?} {latest:?}"
        );
    }
    assert_eq!(
        log.render(Some(t(5)), None),
        "2030-06-01T00:05:00.000Z InvalidMessages bad frame second line\n\
         2030-06-01T00:10:00.000Z FirmwareUpdated 1.2.3\n"
    );
    let json = serde_json::to_string(&log).expect("JSON");
    assert!(json.contains("\"type\":\"FirmwareUpdated\""), "{json}");
    let restored: SecurityLog = serde_json::from_str(&json).expect("restored");
    assert_eq!(restored, log);
    let cleared = log.clear(t(20));
    assert_eq!(cleared.kind, event::SECURITY_LOG_WAS_CLEARED);
    assert!(cleared.is_critical());
    assert_eq!(log.iter().collect::<Vec<_>>(), [&cleared]);
}

#[test]
fn an_event_becomes_its_notification() {
    let mut log = SecurityLog::default();
    let entry = log.record(event::TAMPER_DETECTION_ACTIVATED, now(), Some("door"));
    let request = entry.notification();
    assert_eq!(request.r#type, "TamperDetectionActivated");
    assert_eq!(request.timestamp.to_utc(), now());
    assert_eq!(request.tech_info.as_deref(), Some("door"));
    let json = serde_json::to_value(&request).expect("JSON");
    assert_eq!(
        json,
        serde_json::json!({
            "type": "TamperDetectionActivated",
            "timestamp": "2030-06-01T00:00:00.000Z",
            "techInfo": "door"
        })
    );
    let bare = log
        .record(event::STARTUP_OF_THE_DEVICE, now(), None)
        .notification();
    assert_eq!(bare.tech_info, None);
}
