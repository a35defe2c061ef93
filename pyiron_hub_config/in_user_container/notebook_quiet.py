# Written by the pyiron hub into ~/.ipython/profile_default/startup/ of servers that can
# submit to a cluster; removed again when the hub no longer lists clusters. Runs at the
# start of every IPython kernel.
#
# pysqa, which submits pyiron's jobs to a cluster over SSH, turns the stderr of every
# command it runs there into a UserWarning: an empty one when the command succeeded, or
# pyiron's own INFO/DEBUG log lines from the cluster side ("... - pyiron_log - INFO - ...,
# submitted: queue id 1"). A notebook shows each as a pink block that reads as an error
# around a job that finished. Only those are silenced: a command that fails (any other
# text, a pyiron WARNING or ERROR line among them) still warns.
import warnings

_PYIRON_INFO_LINE = r"\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ - pyiron_log - (?:DEBUG|INFO) - [^\n]*"
warnings.filterwarnings("ignore", message=r"(?:%s)*\s*\Z" % _PYIRON_INFO_LINE, category=UserWarning)
