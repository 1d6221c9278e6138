"""A local Cloud Scheduler: the REST API v1 for jobs, firing each job at its HTTP target on its cron
in its time zone, with the job's retry config, every attempt recorded in SQLite.

    python -m localcloud.scheduler serve --host 127.0.0.1 --port PORT --data-dir DIR [--manual-clock]
    python -m localcloud.scheduler apply --endpoint 127.0.0.1:PORT --function-base-url http://127.0.0.1:GW
"""

VERSION = "localcloud-scheduler 0.1.0"
