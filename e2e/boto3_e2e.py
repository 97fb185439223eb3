"""End-to-end checks of meterd with boto3, the AWS SDK for Python.

Run by TestBoto3 (boto3_test.go) against a meterd it started on 127.0.0.1,
with METERD_ENDPOINT set; exits non-zero on the first failed check.
Uses e2e/testdata/state.yaml's credentials.
"""
import datetime
import os
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["METERD_ENDPOINT"]
NOW = datetime.datetime.now(datetime.timezone.utc)
CHECKS = 0


def client(key, secret, region="us-east-1"):
    return boto3.client(
        "meteringmarketplace",
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def check(cond, what):
    global CHECKS
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)
    CHECKS += 1


def raises(fn, exc_type, **kw):
    """Call fn and require the typed exception boto3 builds from our error."""
    try:
        fn(**kw)
    except exc_type as e:
        check(e.response["Error"]["Message"], "%s has a message" % exc_type.__name__)
        return e
    except ClientError as e:
        check(False, "want %s, got %s: %s" % (exc_type.__name__, e.response["Error"]["Code"], e))
    check(False, "want %s, got success" % exc_type.__name__)


seller = client("AKIASELLER0000000001", "seller-secret")
buyer = client("AKIABUYER00000000001", "buyer-secret")
buyer2 = client("AKIABUYER20000000001", "buyer-2-secret")
agent = client("AKIAAGENT00000000001", "agent-secret")

# MeterUsage: idempotent within the hour, DuplicateRequest on another quantity.
r1 = buyer.meter_usage(ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=3)
check(r1["MeteringRecordId"], "MeterUsage returns a MeteringRecordId")
check(r1["ResponseMetadata"]["RequestId"], "x-amzn-RequestId is the request id")
r2 = buyer.meter_usage(ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=3)
check(r2["MeteringRecordId"] == r1["MeteringRecordId"], "repeat returns the same MeteringRecordId")
raises(buyer.meter_usage, buyer.exceptions.DuplicateRequestException,
       ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=4)
raises(buyer.meter_usage, buyer.exceptions.TimestampOutOfBoundsException,
       ProductCode="ami-1", Timestamp=NOW - datetime.timedelta(hours=7), UsageDimension="hours", UsageQuantity=1)
raises(buyer.meter_usage, buyer.exceptions.InvalidProductCodeException,
       ProductCode="nope", Timestamp=NOW, UsageDimension="hours", UsageQuantity=1)
raises(buyer.meter_usage, buyer.exceptions.InvalidUsageDimensionException,
       ProductCode="ami-1", Timestamp=NOW, UsageDimension="nope", UsageQuantity=1)
raises(buyer2.meter_usage, buyer2.exceptions.CustomerNotEntitledException,
       ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=1)
raises(buyer.meter_usage, buyer.exceptions.InvalidUsageAllocationsException,
       ProductCode="ami-1", Timestamp=NOW, UsageDimension="vcpus", UsageQuantity=2,
       UsageAllocations=[{"AllocatedUsageQuantity": 1}])
raises(buyer.meter_usage, buyer.exceptions.InvalidTagException,
       ProductCode="ami-1", Timestamp=NOW, UsageDimension="vcpus", UsageQuantity=1,
       UsageAllocations=[{"AllocatedUsageQuantity": 1, "Tags": [{"Key": "k%d" % i, "Value": "v"} for i in range(6)]}])
raises(client("AKIABUYER00000000001", "buyer-secret", region="eu-west-1").meter_usage,
       buyer.exceptions.InvalidEndpointRegionException,
       ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=1)
try:
    buyer.meter_usage(ProductCode="ami-1", Timestamp=NOW, UsageDimension="vcpus", UsageQuantity=1, DryRun=True)
    check(False, "DryRun must answer DryRunOperation")
except ClientError as e:
    check(e.response["Error"]["Code"] == "DryRunOperation", "DryRun answers DryRunOperation")

# AgentCore: ClientToken idempotency, 409 on conflict.
a1 = agent.meter_usage(ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=1, ClientToken="tok-1")
a2 = agent.meter_usage(ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=1, ClientToken="tok-1")
check(a1["MeteringRecordId"] == a2["MeteringRecordId"], "same ClientToken, same record")
e = raises(agent.meter_usage, agent.exceptions.IdempotencyConflictException,
           ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=2, ClientToken="tok-1")
check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 409, "IdempotencyConflictException is 409")

# BatchMeterUsage: statuses, retries, all-or-nothing.
records = [
    {"Timestamp": NOW, "CustomerIdentifier": "cust-1", "Dimension": "users", "Quantity": 5},
    {"Timestamp": NOW, "CustomerIdentifier": "cust-2", "Dimension": "users", "Quantity": 5},
    {"Timestamp": NOW, "CustomerAWSAccountId": "444455556666", "Dimension": "users", "Quantity": 6},
]
b1 = seller.batch_meter_usage(ProductCode="saas-both", UsageRecords=records)
check([r["Status"] for r in b1["Results"]] == ["Success", "CustomerNotSubscribed", "DuplicateRecord"],
      "batch statuses %s" % [r["Status"] for r in b1["Results"]])
b2 = seller.batch_meter_usage(ProductCode="saas-both", UsageRecords=records[:1])
check(b2["Results"][0]["MeteringRecordId"] == b1["Results"][0]["MeteringRecordId"], "subset retry keeps the id")
lic = seller.batch_meter_usage(UsageRecords=[{
    "Timestamp": NOW, "Dimension": "requests", "Quantity": 1, "CustomerAWSAccountId": "777788889999",
    "LicenseArn": "arn:aws:license-manager::777788889999:license:l-00000000000000000000000000000002"}])
check(lic["Results"][0]["Status"] == "Success", "Concurrent Agreements record accepted")
raises(seller.batch_meter_usage, seller.exceptions.TimestampOutOfBoundsException, ProductCode="saas-both",
       UsageRecords=[records[0], dict(records[0], Dimension="storage_gb", Timestamp=NOW - datetime.timedelta(hours=25))])
raises(seller.batch_meter_usage, seller.exceptions.InvalidUsageDimensionException, ProductCode="saas-both",
       UsageRecords=[dict(records[0], Dimension="storage_gb"), dict(records[0], Dimension="nope")])
raises(seller.batch_meter_usage, seller.exceptions.InvalidLicenseException, UsageRecords=[{
    "Timestamp": NOW, "Dimension": "requests", "Quantity": 1, "CustomerAWSAccountId": "444455556666",
    "LicenseArn": "arn:aws:license-manager::777788889999:license:l-00000000000000000000000000000002"}])
raises(buyer.batch_meter_usage, buyer.exceptions.InvalidProductCodeException, ProductCode="saas-both", UsageRecords=records[:1])
# The all-or-nothing refusals above stored nothing: storage_gb is still free.
b3 = seller.batch_meter_usage(ProductCode="saas-both", UsageRecords=[dict(records[0], Dimension="storage_gb", Quantity=9)])
check(b3["Results"][0]["Status"] == "Success", "refused batches stored nothing")

# Authentication.
for key, secret, code in [("AKIANOBODY0000000000", "x", "UnrecognizedClientException"),
                          ("AKIABUYER00000000001", "wrong", "InvalidSignatureException")]:
    try:
        client(key, secret).meter_usage(ProductCode="ami-1", Timestamp=NOW, UsageDimension="hours", UsageQuantity=3)
        check(False, "%s must be refused" % key)
    except ClientError as e:
        check(e.response["Error"]["Code"] == code, "want %s, got %s" % (code, e.response["Error"]["Code"]))


# RegisterUsage from an ECS task, verified like a container image would.
task = client("AKIATASK000000000001", "task-secret")
reg = task.register_usage(ProductCode="container-1", PublicKeyVersion=2, Nonce="boto3-nonce")
parts = reg["Signature"].split(".")
check(len(parts) == 3, "RegisterUsage Signature is a compact JWS")
import base64, json
pad = lambda s: s + "=" * (-len(s) % 4)
header = json.loads(base64.urlsafe_b64decode(pad(parts[0])))
claims = json.loads(base64.urlsafe_b64decode(pad(parts[1])))
check(header["alg"] == "PS256", "PS256 signature")
check(claims["productCode"] == "container-1" and claims["publicKeyVersion"] == 2 and claims["nonce"] == "boto3-nonce", "claims %s" % claims)
old = task.register_usage(ProductCode="container-1", PublicKeyVersion=1)
check("PublicKeyRotationTimestamp" in old, "retired key version adds PublicKeyRotationTimestamp")
raises(task.register_usage, task.exceptions.InvalidPublicKeyVersionException, ProductCode="container-1", PublicKeyVersion=7)
raises(buyer.register_usage, buyer.exceptions.PlatformNotSupportedException, ProductCode="container-1", PublicKeyVersion=1)

# ResolveCustomer.
res = seller.resolve_customer(RegistrationToken="reg+token/legacy==")
check(res["CustomerIdentifier"] == "cust-1" and res["CustomerAWSAccountId"] == "444455556666" and res["ProductCode"] == "saas-both", "resolved %s" % res)
check(res["LicenseArn"].startswith("arn:aws:license-manager::444455556666:license:"), "LicenseArn returned")
raises(seller.resolve_customer, seller.exceptions.InvalidTokenException, RegistrationToken="no-such-token")
raises(seller.resolve_customer, seller.exceptions.ExpiredTokenException, RegistrationToken="reg-token-expired")

# GetEntitlements over JSON (botocore's protocol for this service).
ent = boto3.client("marketplace-entitlement", endpoint_url=ENDPOINT, region_name="us-east-1",
                   aws_access_key_id="AKIASELLER0000000001", aws_secret_access_key="seller-secret",
                   config=botocore.config.Config(retries={"max_attempts": 1}))
page = ent.get_entitlements(ProductCode="saas-both", Filter={"CUSTOMER_IDENTIFIER": ["cust-1"]})
values = {e["Dimension"]: e["Value"] for e in page["Entitlements"]}
check(values.get("users") == {"IntegerValue": 100} and values.get("storage_gb") == {"DoubleValue": 2.5}, "entitlements %s" % values)
check(page["Entitlements"][0]["ExpirationDate"].year == 2030, "ExpirationDate read as a datetime")
seen, tokens, kwargs = 0, set(), {"ProductCode": "saas-both", "MaxResults": 1}
while True:
    p = ent.get_entitlements(**kwargs)
    seen += len(p["Entitlements"])
    if "NextToken" not in p:
        break
    check(p["NextToken"] not in tokens, "NextToken never repeats")
    tokens.add(p["NextToken"])
    kwargs["NextToken"] = p["NextToken"]
check(seen == 2, "paged through %d entitlements" % seen)
raises(ent.get_entitlements, ent.exceptions.InvalidParameterException, ProductCode="saas-both", MaxResults=26)
raises(ent.get_entitlements,
       ent.exceptions.InvalidParameterException, ProductCode="saas-both",
       Filter={"CUSTOMER_IDENTIFIER": ["cust-1"], "CUSTOMER_AWS_ACCOUNT_ID": ["444455556666"]})

print("boto3 %s: %d checks passed" % (boto3.__version__, CHECKS))
