"""The per-environment values the pipeline must have: the requirements, written once.

These are the user's numbers (the seed task and issue 2), not values read back from the code
under test; every layer test compares what the programs declare against this table.
"""

EXPECTED = {
    "dev": {
        "memory_mb": 512,
        "billing_mode": "PROVISIONED",
        "capacity": 1,
        "tracing": "PassThrough",
        "log_retention_days": 7,
        "force_destroy": True,
        "point_in_time_recovery": False,
        "deletion_protection": False,
        "protected": False,
        "noncurrent_version_days": 30,
    },
    "staging": {
        "memory_mb": 1024,
        "billing_mode": "PROVISIONED",
        "capacity": 5,
        "tracing": "Active",
        "log_retention_days": 7,
        "force_destroy": False,
        "point_in_time_recovery": False,
        "deletion_protection": False,
        "protected": False,
        "noncurrent_version_days": 30,
    },
    "prod": {
        "memory_mb": 2048,
        "billing_mode": "PAY_PER_REQUEST",
        "capacity": None,
        "tracing": "Active",
        "log_retention_days": 30,
        "force_destroy": False,
        "point_in_time_recovery": True,
        "deletion_protection": True,
        "protected": True,
        "noncurrent_version_days": 90,
    },
}

ACCOUNT_ID = "123456789012"  # the harness's mock account
REGION = "us-east-1"
