"""The integration tests' kit: what the test scripts share, one module per concern.

core      failures, checks, killing what a test started, the shared command line
sites     the test's world (temp folder, processes, namespaces) and namespaces joined by veth pairs
postgres  a throwaway PostgreSQL cluster
helper    starting sms-bridge-firewall-helper with a config
api       starting sms-bridge-api, admins, requests over curl from a namespace
backend   the HTTPS backend stub that receives deliveries
stack     the server as compose/systemd deploy it (PostgreSQL, helper, api) with a laptop next to it
raw       raw HTTP/1.1 requests sent from the laptop namespace (raw_http.py)

Test scripts import from here and from the standard library only, never from each other.
"""
