"""The service's one error type: answered to the client as {"error": message} with its status."""


class ServiceError(Exception):
    """An error answered to the client as {"error": message} with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message
