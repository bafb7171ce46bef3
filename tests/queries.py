"""GraphQL documents and demo sign-ins shared by tests and benchmarks."""

# Every demo user (one per role and per kind of account; password `DEMO_PASSWORD`).
DEMO_USERS = [
    "agent@vendor.example",
    "admin@acme.example",
    "admin.fr@acme.example",
    "devices@acme.example",
    "stock@acme.example",
    "devstock@acme.example",
    "kb@acme.example",
    "admin@globex.example",
]

# The fleet screen's query of issue 4: a page of devices with everything the dashboard shows.
# `first` defaults to the screen's page size.
QUERY_DASHBOARD = """
query Dashboard($first: Int = 100, $after: String, $filter: DeviceFilter) {
  devices(first: $first, after: $after, filter: $filter, orderBy: {field: SITE, direction: ASC}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id serialNumber locationDescription status
      model { name }
      site { name city country timeZone }
      account { name customerAccountNumber }
      contract { active endsOn }
      latestReadings { meter reading { value readingDate } }
      openTicketCount
      stockLocation { name }
    } }
  }
}
"""
