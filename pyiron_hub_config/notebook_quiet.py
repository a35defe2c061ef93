# Written by the pyiron hub into ~/.ipython/profile_default/startup/ of servers that can
# submit to a cluster; removed again when the hub no longer lists clusters. Runs at the
# start of every IPython kernel.
#
# pysqa, which submits pyiron's jobs to a cluster over SSH, turns the stderr of every
# command it runs there into a UserWarning, an empty one when the command succeeded. A
# notebook shows each as a pink block that reads as an error around a job that finished.
# Only the empty ones are silenced: a command that fails (its stderr has text) still warns.
import warnings

warnings.filterwarnings("ignore", message=r"\s*\Z", category=UserWarning)
