package commands

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAppendInput(t *testing.T) {
	t.Parallel()
	got, err := parseAppendInput(`
- name: arm
  endpoint: tcp://arm:1234
  platforms: linux/arm64/v8,linux/arm/v7
  driver-opts:
    - cacert=/c/ca.pem
    - cert=/c/cert.pem
- endpoint: tcp://riscv:1234
  platforms: |
    linux/riscv64
`)
	want := []appendedNode{
		{name: "arm", endpoint: "tcp://arm:1234", platforms: []string{"linux/arm64", "linux/arm/v7"}, driverOpts: []string{"cacert=/c/ca.pem", "cert=/c/cert.pem"}},
		{endpoint: "tcp://riscv:1234", platforms: []string{"linux/riscv64"}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v\nwant %+v", got, err, want)
	}
	if got, err := parseAppendInput("  \n"); got != nil || err != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for in, errHas := range map[string]string{
		"- endpoint: [a, b]":                  "node 1: endpoint must be a string",
		"- platforms: linux/amd64,linux/xx?y": `node 1: invalid platform "linux/xx?y"`,
		"- buildkitd-config: /etc/b.toml":     `node 1: unknown key "buildkitd-config"`,
		"- driver-opts: [{a: b}]":             "node 1: driver-opts: want strings",
		"name: x":                             "want a YAML list of nodes",
	} {
		if _, err := parseAppendInput(in); err == nil || !strings.Contains(err.Error(), errHas) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v, want one line with %q", in, err, errHas)
		}
	}
}
