from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
