"""Answers the EC2 reads of a no-op plan from a state file, at once.

moto 5.1.22 cannot carry a refresh of 10,000 objects: with 10,002 VPCs, subnets
and route tables it took 5 s for a DescribeVpcs of two and did not answer one
filtered page of a thousand subnets in five minutes, one core at 100%. To
measure provision's own CPU, memory and wall for such a refresh, this server
plays AWS for the reads the scale stack's plan makes (DescribeVpcs,
DescribeSubnets, DescribeRouteTables by the ownership tag, by pages of
MaxResults; DescribeVpcAttribute), answering with what the state recorded, so
the plan finds no changes. It prints, when it stops, how many calls it
answered and its own time answering them (the "emulator's" share).

Usage: python3 scripts/bench-refresh-replay.py make PAIRS STACK.yaml STATE.json
         (a scale stack of two VPCs, each with PAIRS/2 subnets and route tables,
          and the state of its apply, made up: no emulator needed)
       python3 scripts/bench-refresh-replay.py serve STATE.json PORT
"""
import json
import signal
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape


def make(pairs, stack_path, state_path):
    """The scale stack with two VPCs (a VPC's /16 holds 4,096 /28 subnets)
    and a state as its apply would have written it."""
    half = pairs // 2
    lineage = "00000000-0000-4000-8000-000000000000"
    with open(stack_path, "w") as f:
        f.write("stack: scale\nregion: us-east-1\nresources:\n")
        for v, cidr in (("a", "10.0.0.0/16"), ("b", "10.1.0.0/16")):
            f.write(f"""  vpc_{v}:
    kind: ec2.vpc
    properties: {{cidr_block: {cidr}}}
  subnet_{v}:
    kind: ec2.subnet
    for_each: ${{range({half})}}
    properties: {{vpc_id: "${{vpc_{v}.id}}", availability_zone: us-east-1a, cidr_block: '${{cidrsubnet("{cidr}", 12, each.index)}}'}}
  rt_{v}:
    kind: ec2.route_table
    for_each: ${{range({half})}}
    properties: {{vpc_id: "${{vpc_{v}.id}}", subnet_ids: ["${{subnet_{v}[each.key].id}}"]}}
""")
    res = {}

    def tags(address):
        return {"provision:address": address, "provision:lineage": lineage,
                "provision:stack": "scale"}

    for n, (v, second) in enumerate((("a", 0), ("b", 1))):
        vid = f"vpc-{n:017x}"
        res[f"vpc_{v}"] = {"kind": "ec2.vpc", "id": vid, "properties": {
            "cidr_block": f"10.{second}.0.0/16", "enable_dns_hostnames": False,
            "enable_dns_support": True, "instance_tenancy": "default",
            "tags": tags(f"vpc_{v}")}, "outputs": {"id": vid}, "dependencies": []}
        for i in range(half):
            sid = f"subnet-{n:02x}{i:015x}"
            rid = f"rtb-{n:02x}{i:015x}"
            res[f"subnet_{v}[{i}]"] = {"kind": "ec2.subnet", "id": sid, "properties": {
                "availability_zone": "us-east-1a",
                "cidr_block": f"10.{second}.{(i * 16) // 256}.{(i * 16) % 256}/28",
                "map_public_ip_on_launch": False, "tags": tags(f"subnet_{v}/{i}"),
                "vpc_id": vid},
                "outputs": {"arn": f"arn:aws:ec2:us-east-1:123456789012:subnet/{sid}",
                            "id": sid}, "dependencies": [f"vpc_{v}"]}
            res[f"rt_{v}[{i}]"] = {"kind": "ec2.route_table", "id": rid, "properties": {
                "routes": [], "subnet_ids": [sid], "tags": tags(f"rt_{v}/{i}"),
                "vpc_id": vid}, "outputs": {"id": rid},
                "dependencies": [f"subnet_{v}[{i}]", f"vpc_{v}"]}
    with open(state_path, "w") as f:
        json.dump({"version": 1, "lineage": lineage, "serial": 1, "stack": "scale",
                   "resources": res}, f)


if sys.argv[1] == "make":
    make(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    sys.exit(0)
state = json.load(open(sys.argv[2]))
port = int(sys.argv[3])
by_kind = {}
for address, r in state["resources"].items():
    by_kind.setdefault(r["kind"], []).append(r)
NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
spent = {"calls": 0, "seconds": 0.0}


def tags(t):
    return "<tagSet>" + "".join(
        f"<item><key>{escape(k)}</key><value>{escape(str(v))}</value></item>"
        for k, v in t.items()) + "</tagSet>"


def vpc(r):
    p = r["properties"]
    return (f"<item><vpcId>{r['id']}</vpcId><cidrBlock>{p['cidr_block']}</cidrBlock>"
            f"<state>available</state><instanceTenancy>{p['instance_tenancy']}</instanceTenancy>"
            f"<isDefault>false</isDefault>{tags(p['tags'])}</item>")


def subnet(r):
    p = r["properties"]
    return (f"<item><subnetId>{r['id']}</subnetId><vpcId>{p['vpc_id']}</vpcId>"
            f"<cidrBlock>{p['cidr_block']}</cidrBlock><availabilityZone>{p['availability_zone']}"
            f"</availabilityZone><state>available</state><mapPublicIpOnLaunch>"
            f"{str(p['map_public_ip_on_launch']).lower()}</mapPublicIpOnLaunch>"
            f"<subnetArn>{r['outputs'].get('arn', '')}</subnetArn>{tags(p['tags'])}</item>")


def route_table(r):
    p = r["properties"]
    assoc = "".join(
        f"<item><routeTableAssociationId>rtbassoc-{i}{r['id'][4:]}</routeTableAssociationId>"
        f"<routeTableId>{r['id']}</routeTableId><subnetId>{s}</subnetId><main>false</main>"
        f"<associationState><state>associated</state></associationState></item>"
        for i, s in enumerate(p["subnet_ids"]))
    return (f"<item><routeTableId>{r['id']}</routeTableId><vpcId>{p['vpc_id']}</vpcId>"
            f"<routeSet><item><destinationCidrBlock>10.0.0.0/16</destinationCidrBlock>"
            f"<gatewayId>local</gatewayId><state>active</state><origin>CreateRouteTable</origin>"
            f"</item></routeSet><associationSet>{assoc}</associationSet>{tags(p['tags'])}</item>")


LISTS = {
    "DescribeVpcs": ("ec2.vpc", "vpcSet", vpc),
    "DescribeSubnets": ("ec2.subnet", "subnetSet", subnet),
    "DescribeRouteTables": ("ec2.route_table", "routeTableSet", route_table),
}


def answer(q):
    action = q.get("Action", [""])[0]
    if action in LISTS:
        kind, key, item = LISTS[action]
        objects = by_kind.get(kind, [])
        size = int(q.get("MaxResults", ["1000"])[0])
        start = int(q.get("NextToken", ["0"])[0])
        page = objects[start:start + size]
        token = (f"<nextToken>{start + size}</nextToken>"
                 if start + size < len(objects) else "")
        body = f"<{key}>{''.join(item(r) for r in page)}</{key}>{token}"
    elif action == "DescribeVpcAttribute":
        vid = q["VpcId"][0]
        attr = q["Attribute"][0]
        r = next(r for r in by_kind["ec2.vpc"] if r["id"] == vid)
        prop = {"enableDnsSupport": "enable_dns_support",
                "enableDnsHostnames": "enable_dns_hostnames"}[attr]
        value = str(r["properties"][prop]).lower()
        body = f"<vpcId>{vid}</vpcId><{attr}><value>{value}</value></{attr}>"
    else:
        return 400, (f"<Response><Errors><Error><Code>InvalidAction</Code><Message>"
                     f"{escape(action)} is not replayed</Message></Error></Errors></Response>")
    return 200, (f'<?xml version="1.0" encoding="UTF-8"?><{action}Response xmlns="{NS}">'
                 f"<requestId>replay</requestId>{body}</{action}Response>")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        t = time.monotonic()
        n = int(self.headers.get("Content-Length", 0))
        q = urllib.parse.parse_qs(self.rfile.read(n).decode())
        code, text = answer(q)
        data = text.encode()
        spent["calls"] += 1
        spent["seconds"] += time.monotonic() - t
        self.send_response(code)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def stop(*_):
    raise KeyboardInterrupt


# SIGTERM (what `kill` sends; a background job of a script ignores SIGINT).
signal.signal(signal.SIGTERM, stop)
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
finally:
    print(f"replayed {spent['calls']} calls in {spent['seconds']:.2f} s of the server's own time",
          flush=True)
