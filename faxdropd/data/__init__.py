"""Files shipped with the package; their one owner, so that the client and the emulator read the same WSDL."""

from pathlib import Path

# The service description faxdropd speaks and the emulator serves (the project's own, checked against InterFAX's).
WSDL_PATH = Path(__file__).with_name("dfs.wsdl")
