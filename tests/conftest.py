from riskrelay._warnings import silence_registry_client_warning

silence_registry_client_warning()

pytest_plugins = ["tests.fixtures.kafka", "tests.fixtures.pipeline"]
