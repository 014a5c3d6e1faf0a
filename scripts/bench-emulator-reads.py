"""The emulator's own time for the reads a no-op plan of the scale stack makes.

Makes the same Describe calls provision's refresh makes (each kind's objects by
the stack's ownership tag, by pages of 1,000) straight from boto3, and prints
how long the emulator took to answer them, so that a plan's wall time can be
split into the emulator's share and provision's.
Usage: python3 scripts/bench-emulator-reads.py STACK   (AWS_ENDPOINT_URL set)
"""
import os
import sys
import time

import boto3

stack = sys.argv[1]
ec2 = boto3.client("ec2", region_name=os.environ.get("AWS_REGION", "us-east-1"),
                   endpoint_url=os.environ["AWS_ENDPOINT_URL"])
owned = [{"Name": "tag:provision:stack", "Values": [stack]}]
calls = 0
found = 0
start = time.monotonic()
for op, key in (("describe_vpcs", "Vpcs"), ("describe_subnets", "Subnets"),
                ("describe_route_tables", "RouteTables")):
    token = None
    while True:
        args = {"Filters": owned, "MaxResults": 1000}
        if token:
            args["NextToken"] = token
        page = getattr(ec2, op)(**args)
        calls += 1
        found += len(page[key])
        token = page.get("NextToken")
        if not token:
            break
took = time.monotonic() - start
print(f"{took:.2f} s for {calls} calls ({found} objects)")
