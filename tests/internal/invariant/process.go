package invariant

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// Running returns the processes of this host whose command line holds
// token as a whole word, such as the unique argument of a RUN step's
// `sleep 612345`: that finds the step's shell and its sleep alike, since
// BuildKit's containers share the host's process table, seen from its
// /proc.
func Running(token string) []int {
	entries, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, e := range entries {
		data, err := os.ReadFile(e)
		if err != nil || !holdsWord(data, []byte(token)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(e))); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// holdsWord: "612" is not found in "6123".
func holdsWord(data, word []byte) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isWordByte(data[start-1])) && (end == len(data) || !isWordByte(data[end])) {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
