//! What the application tier needs to run as a real system (issue 23): an
//! IAM role with least privilege and its instance profile on the launch
//! template, and the S3 gateway endpoint on the private route tables.
//! Against moto: create, re-plan clean, update in place (a policy shown
//! line by line), drift (a document rewritten by hand in another order is
//! no drift; a changed one is), destroy.

use crate::harness::World;

const STACK: &str = r#"
stack: identity
region: us-east-1
variables:
  actions: {default: ["s3:GetObject"]}
  endpoint_actions: {default: ["s3:*"]}
resources:
  vpc:
    kind: ec2.vpc
    properties: {cidr_block: 10.9.0.0/16}
  private:
    kind: ec2.route_table
    for_each: [a, b]
    properties: {vpc_id: "${vpc.id}"}
  s3_endpoint:
    kind: ec2.vpc_endpoint
    properties:
      vpc_id: ${vpc.id}
      service_name: com.amazonaws.us-east-1.s3
      route_table_ids: ${private[*].id}
      policy:
        Statement:
          - {Effect: Allow, Principal: "*", Action: "${var.endpoint_actions}", Resource: "*"}
  docs:
    kind: s3.bucket
    properties: {bucket: identity-docs-bucket}
  app:
    kind: iam.role
    properties:
      name: identity-app
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          Effect: Allow
          Principal: {Service: ec2.amazonaws.com}
          Action: sts:AssumeRole
      policies:
        - name: documents
          document:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: ${var.actions}
                Resource: "${docs.arn}/*"
  app_profile:
    kind: iam.instance_profile
    properties: {name: identity-app, role: "${app.name}"}
  template:
    kind: ec2.launch_template
    properties:
      name: identity-app
      image_id: ami-12c6146b
      instance_type: t3.micro
      iam_instance_profile: ${app_profile.name}
"#;

#[tokio::test]
async fn a_role_its_profile_and_the_s3_endpoint_create_update_drift_and_delete() {
    let w = World::new();
    let iam = w.iam().await;
    let ec2 = w.ec2().await;
    let s = w.write_stack("identity.yaml", STACK);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);

    let role = iam
        .get_role()
        .role_name("identity-app")
        .send()
        .await
        .unwrap();
    assert!(
        role.role()
            .unwrap()
            .tags()
            .iter()
            .any(|t| t.key() == "provision:stack"),
        "the role carries the ownership tags from its create"
    );
    let profile = iam
        .get_instance_profile()
        .instance_profile_name("identity-app")
        .send()
        .await
        .unwrap();
    assert_eq!(
        profile.instance_profile().unwrap().roles()[0].role_name(),
        "identity-app"
    );
    let st = w.state("identity");
    let endpoint = st["resources"]["s3_endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rt = |k: &str| st["resources"][k]["id"].as_str().unwrap().to_string();
    let mut want = vec![rt("private[a]"), rt("private[b]")];
    want.sort();
    let endpoint_now = || async {
        let d = ec2
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(&endpoint)
            .send()
            .await
            .unwrap();
        d.vpc_endpoints()[0].clone()
    };
    let mut rts = endpoint_now().await.route_table_ids().to_vec();
    rts.sort();
    assert_eq!(rts, want, "the endpoint is on both private route tables");

    // In place: a second action in the role's policy, one action in the
    // endpoint's (each document shown line by line).
    w.run(&[
        "plan",
        "-s",
        s,
        "--var",
        r#"actions=["s3:GetObject","s3:PutObject"]"#,
        "--var",
        r#"endpoint_actions=["s3:GetObject"]"#,
    ])
    .ok()
    .has("~ iam.role app (identity-app) will be updated in place")
    .has("~ policies \"documents\"")
    .has(r#"+         "s3:PutObject""#)
    .has("~ ec2.vpc_endpoint s3_endpoint (vpce-")
    .has(r#"+         "s3:GetObject""#)
    .lacks("must be replaced");
    w.run(&[
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        r#"actions=["s3:GetObject","s3:PutObject"]"#,
        "--var",
        r#"endpoint_actions=["s3:GetObject"]"#,
    ])
    .ok();
    let inline = iam
        .get_role_policy()
        .role_name("identity-app")
        .policy_name("documents")
        .send()
        .await
        .unwrap();
    let doc = percent_decode(inline.policy_document());
    assert!(doc.contains("s3:PutObject"), "{doc}");
    let policy = percent_decode(endpoint_now().await.policy_document().unwrap_or_default());
    assert!(
        policy.contains("s3:GetObject") && !policy.contains("s3:*"),
        "{policy}"
    );
    w.run(&with(&["plan", "-s", s, "--detailed-exitcode"]))
        .code(0);

    // The trust policy rewritten by hand: the same policy in another order
    // and form is no drift; another principal is.
    let same = r#"{"Statement":[{"Action":["sts:AssumeRole"],"Principal":{"Service":["ec2.amazonaws.com"]},"Effect":"Allow"}],"Version":"2012-10-17"}"#;
    iam.update_assume_role_policy()
        .role_name("identity-app")
        .policy_document(same)
        .send()
        .await
        .unwrap();
    w.run(&with(&["drift", "-s", s])).code(0);
    let other = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.update_assume_role_policy()
        .role_name("identity-app")
        .policy_document(other)
        .send()
        .await
        .unwrap();
    w.run(&with(&["drift", "-s", s]))
        .code(2)
        .has("lambda.amazonaws.com");
    // Apply puts it back.
    w.run(&with(&["apply", "-s", s, "--auto-approve"])).ok();
    w.run(&with(&["plan", "-s", s, "--detailed-exitcode"]))
        .code(0);

    w.run(&with(&["destroy", "-s", s, "--auto-approve"])).ok();
    assert!(
        iam.get_role()
            .role_name("identity-app")
            .send()
            .await
            .is_err()
    );
    assert!(
        iam.get_instance_profile()
            .instance_profile_name("identity-app")
            .send()
            .await
            .is_err()
    );
    let left = ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&endpoint)
        .send()
        .await
        .map(|r| {
            r.vpc_endpoints()
                .iter()
                .filter(|e| {
                    e.state()
                        .is_some_and(|s| s.as_str().eq_ignore_ascii_case("available"))
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0, "the endpoint is gone");
}

#[tokio::test]
async fn a_policy_that_is_not_a_policy_is_refused_before_any_call() {
    let w = World::new();
    let bad = STACK.replace(
        "Effect: Allow\n          Principal",
        "Effect: Permit\n          Principal",
    );
    let s = w.write_stack("identity.yaml", &bad);
    w.run(&["plan", "-s", s.to_str().unwrap()])
        .code(1)
        .has("identity.yaml:")
        .has("Allow or Deny");
    let text = STACK.replace(
        "      policies:\n",
        "      policies:\n        - {name: raw, document: '{\"Statement\": [oops'}\n",
    );
    let s = w.write_stack("identity.yaml", &text);
    w.run(&["plan", "-s", s.to_str().unwrap()])
        .code(1)
        .has("not a JSON policy document");
}

/// The second apply's variables.
const BOTH: [&str; 4] = [
    "--var",
    r#"actions=["s3:GetObject","s3:PutObject"]"#,
    "--var",
    r#"endpoint_actions=["s3:GetObject"]"#,
];

/// `args` with the second apply's variables.
fn with<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(BOTH).collect()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .to_string()
}

const KEYS: &str = r#"
stack: keys
region: us-east-1
variables:
  rotation: {default: true}
  admin: {default: "arn:aws:iam::123456789012:root"}
  target: {default: data}
resources:
  court:
    kind: kms.key
    properties:
      description: the court's data at rest
      rotation: ${var.rotation}
      deletion_window_days: 7
      policy:
        Version: "2012-10-17"
        Statement:
          - Sid: Account
            Effect: Allow
            Principal: {AWS: "${var.admin}"}
            Action: kms:*
            Resource: "*"
  state:
    kind: kms.key
    properties: {description: provision's state}
  data_alias:
    kind: kms.alias
    properties:
      name: alias/court-data
      target_key_id: "${var.target == \"data\" ? court.id : state.id}"
  documents:
    kind: s3.bucket
    properties:
      bucket: keys-documents
      sse_algorithm: aws:kms
      kms_key_id: ${court.arn}
"#;

#[tokio::test]
async fn a_key_its_alias_and_a_bucket_encrypted_with_it_create_update_drift_and_delete() {
    let w = World::new();
    let kms = w.kms().await;
    let s = w.write_stack("keys.yaml", KEYS);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    let st = w.state("keys");
    let data = st["resources"]["court"]["id"].as_str().unwrap().to_string();
    let state_key = st["resources"]["state"]["id"].as_str().unwrap().to_string();
    let rotation = kms
        .get_key_rotation_status()
        .key_id(&data)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled(), "rotation is on by default");
    let aliases = kms.list_aliases().key_id(&data).send().await.unwrap();
    assert_eq!(aliases.aliases()[0].alias_name(), Some("alias/court-data"));

    // In place: rotation off; the alias moved to the other key is planned
    // (moto lacks UpdateAlias: mock_tests.rs carries it out).
    w.run(&["plan", "-s", s, "--var", "target=state"])
        .ok()
        .has("~ kms.alias data_alias (alias/court-data) will be updated in place")
        .has(&format!("~ target_key_id = \"{data}\" -> \"{state_key}\""));
    w.run(&[
        "apply",
        "-s",
        s,
        "--auto-approve",
        "--var",
        "rotation=false",
    ])
    .ok()
    .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    let rotation = kms
        .get_key_rotation_status()
        .key_id(&data)
        .send()
        .await
        .unwrap();
    assert!(!rotation.key_rotation_enabled());
    let vars = ["--var", "rotation=false"];
    let with =
        |a: &[&'static str]| -> Vec<&'static str> { a.iter().chain(&vars).copied().collect() };
    let mut plan = with(&["plan", "-s", "--detailed-exitcode"]);
    plan.insert(2, s);
    w.run(&plan).code(0);

    // The key policy rewritten by hand with another principal: drift says so.
    let other = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:*","Resource":"*"}]}"#;
    kms.put_key_policy()
        .key_id(&data)
        .policy_name("default")
        .policy(other)
        .send()
        .await
        .unwrap();
    let mut drift = with(&["drift", "-s"]);
    drift.insert(2, s);
    w.run(&drift).code(2).has("999999999999");

    // Destroy: the keys are scheduled for deletion (not gone at once), the
    // alias is deleted.
    let mut destroy = with(&["destroy", "-s", "--auto-approve"]);
    destroy.insert(2, s);
    w.run(&destroy).ok();
    for k in [&data, &state_key] {
        let d = kms.describe_key().key_id(k).send().await.unwrap();
        assert_eq!(
            d.key_metadata().unwrap().key_state().unwrap().as_str(),
            "PendingDeletion"
        );
    }
    let left = kms.list_aliases().send().await.unwrap();
    assert!(
        !left
            .aliases()
            .iter()
            .any(|a| a.alias_name() == Some("alias/court-data"))
    );
}

const BROUGHT_BACK: &str = r#"
stack: keyback
region: us-east-1
variables:
  description: {default: the court's data at rest}
resources:
  court:
    kind: kms.key
    properties:
      description: ${var.description}
      deletion_window_days: 7
  data_alias:
    kind: kms.alias
    properties: {name: alias/keyback-data, target_key_id: "${court.id}"}
  documents:
    kind: s3.bucket
    properties:
      bucket: keyback-documents
      sse_algorithm: aws:kms
      kms_key_id: ${court.arn}
"#;

/// A key of the stack scheduled for deletion by hand is drift, and the
/// plan brings it back in place (CancelKeyDeletion, then EnableKey): a new
/// key could not read what the old one encrypted, so nothing that uses it
/// is replaced. KMS refuses every other change to a key pending deletion
/// (the strict layer plays it): a description changed in the same apply
/// is sent after the cancel. A key disabled by hand is enabled again.
#[tokio::test]
async fn a_key_scheduled_for_deletion_by_hand_is_brought_back_not_replaced() {
    let w = World::strict(crate::strict::Strict {
        key_states: true,
        // The first cancel is carried out and its answer lost: the retry
        // is refused (no longer pending), and that is success.
        lose: vec!["CancelKeyDeletion"],
        ..Default::default()
    });
    let kms = w.kms().await;
    let s = w.write_stack("keyback.yaml", BROUGHT_BACK);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    let key = w.state("keyback")["resources"]["court"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let state_of = |k: &str| {
        let kms = kms.clone();
        let k = k.to_string();
        async move {
            let d = kms.describe_key().key_id(k).send().await.unwrap();
            let m = d.key_metadata().unwrap();
            m.key_state().unwrap().as_str().to_string()
        }
    };
    kms.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();

    w.run(&["drift", "-s", s])
        .code(2)
        .has("~ court changed outside provision: state")
        .has("+ PendingDeletion");
    w.run(&["plan", "-s", s])
        .ok()
        .has("~ kms.key court")
        .has("will be updated in place")
        .has("~ state = \"PendingDeletion\" -> \"Enabled\"")
        .has("# cancels the key's scheduled deletion (CancelKeyDeletion)")
        .lacks("documents")
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    let vars = ["--var", "description=the court's data, kept"];
    w.run(&[&["apply", "-s", s, "--auto-approve"][..], &vars[..]].concat())
        .ok()
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    assert_eq!(state_of(&key).await, "Enabled");
    assert_eq!(w.layer().count("lost CancelKeyDeletion"), 1);
    assert_eq!(w.layer().count("not_pending CancelKeyDeletion"), 1);
    let d = kms.describe_key().key_id(&key).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().description(),
        Some("the court's data, kept")
    );
    let rotation = kms.get_key_rotation_status().key_id(&key).send().await;
    assert!(rotation.unwrap().key_rotation_enabled(), "rotation kept");
    assert_eq!(
        w.state("keyback")["resources"]["court"]["id"],
        key.as_str(),
        "the same key"
    );
    w.run(&[&["plan", "-s", s, "--detailed-exitcode"][..], &vars[..]].concat())
        .code(0);

    // The premise: through the layer, KMS refuses a change to a key
    // pending deletion, as AWS does (moto would carry it out).
    kms.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let layered = w.sdk_through_layer().await;
    let refused = aws_sdk_kms::Client::new(&layered)
        .update_key_description()
        .key_id(&key)
        .description("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&refused),
        Some("KMSInvalidStateException")
    );
    assert_eq!(w.layer().count("pending_deletion UpdateKeyDescription"), 1);
    w.run(&[&["apply", "-s", s, "--auto-approve"][..], &vars[..]].concat())
        .ok()
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    assert_eq!(state_of(&key).await, "Enabled");
    assert_eq!(w.layer().count("pending_deletion UpdateKeyDescription"), 1);

    // Disabled by hand: enabled again.
    kms.disable_key().key_id(&key).send().await.unwrap();
    w.run(&[&["plan", "-s", s][..], &vars[..]].concat())
        .ok()
        .has("~ state = \"Disabled\" -> \"Enabled\"");
    w.run(&[&["apply", "-s", s, "--auto-approve"][..], &vars[..]].concat())
        .ok();
    assert_eq!(state_of(&key).await, "Enabled");
    w.run(&[&["destroy", "-s", s, "--auto-approve"][..], &vars[..]].concat())
        .ok();
    assert_eq!(state_of(&key).await, "PendingDeletion");
}

const BUCKET_POLICY: &str = r#"
stack: tls
region: us-east-1
resources:
  documents:
    kind: s3.bucket
    properties:
      bucket: tls-documents
      policy:
        Version: "2012-10-17"
        Statement:
          - Sid: TlsOnly
            Effect: Deny
            Principal: "*"
            Action: s3:*
            Resource: [arn:aws:s3:::tls-documents, arn:aws:s3:::tls-documents/*]
            Condition: {Bool: {aws:SecureTransport: "false"}}
"#;

const READER: &str = r#"          - Sid: Reader
            Effect: Allow
            Principal: {AWS: arn:aws:iam::999999999999:root}
            Action: s3:GetObject
            Resource: arn:aws:s3:::tls-documents/*
"#;

/// A bucket policy is a policy document like IAM's and KMS's: made with the
/// bucket, re-planned clean (AWS's text in another order is no drift), a
/// statement added shown line by line and put in place, the policy deleted
/// by hand found by drift and put back; a stack that sets none leaves the
/// bucket's alone.
#[tokio::test]
async fn a_bucket_policy_is_put_shown_line_by_line_drifts_and_is_put_back() {
    let w = World::new();
    let s3 = w.s3().await;
    let s = w.write_stack("tls.yaml", BUCKET_POLICY);
    let s = s.to_str().unwrap();
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);
    let doc = |s3: aws_sdk_s3::Client| async move {
        let r = s3.get_bucket_policy().bucket("tls-documents").send().await;
        r.ok().and_then(|r| r.policy().map(str::to_string))
    };
    let got = doc(s3.clone()).await.expect("a policy");
    assert!(got.contains("aws:SecureTransport"), "{got}");

    w.write_stack("tls.yaml", &format!("{BUCKET_POLICY}{READER}"));
    w.run(&["plan", "-s", s])
        .ok()
        .has("~ s3.bucket documents (tls-documents) will be updated in place")
        .has("+       \"Sid\": \"Reader\"")
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    assert!(doc(s3.clone()).await.unwrap().contains("999999999999"));
    w.run(&["plan", "-s", s, "--detailed-exitcode"]).code(0);

    s3.delete_bucket_policy()
        .bucket("tls-documents")
        .send()
        .await
        .unwrap();
    w.run(&["drift", "-s", s])
        .code(2)
        .has("documents changed outside provision: policy");

    w.run(&["apply", "-s", s, "--auto-approve"])
        .ok()
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    assert!(
        doc(s3.clone()).await.unwrap().contains("999999999999"),
        "put back"
    );

    // A stack that sets no policy leaves the bucket's alone, as every
    // property it leaves out.
    let bare = BUCKET_POLICY.split("      policy:").next().unwrap();
    w.write_stack("tls.yaml", bare);
    w.run(&["apply", "-s", s, "--auto-approve"]).ok();
    assert!(doc(s3.clone()).await.is_some(), "left alone");
    w.run(&["destroy", "-s", s, "--auto-approve"]).ok();
}
