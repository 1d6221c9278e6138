"""A local Cloud Pub/Sub: the google.pubsub.v1 gRPC API the official client speaks with
PUBSUB_EMULATOR_HOST, durable in SQLite, with ack deadlines, redelivery, dead-letter topics, retry
policies and push subscriptions.

    python -m localcloud.pubsub serve --host 127.0.0.1 --port PORT --data-dir DIR
    python -m localcloud.pubsub health --address 127.0.0.1:PORT
"""

VERSION = "localcloud-pubsub 0.1.0"
