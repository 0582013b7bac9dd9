import warnings

# confluent_kafka's registry client imports authlib's deprecated httpx integration at
# import time, before pytest's own warning filters apply.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")

pytest_plugins = ["tests.fixtures.kafka"]
