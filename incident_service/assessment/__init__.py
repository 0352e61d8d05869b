"""Assessment: when the customer noticed the loss, the reporting delay, and lateness under the policy."""
