package main

import "testing"

func TestIsPlugin(t *testing.T) {
	t.Parallel()
	fromDocker := func(k string) string {
		return map[string]string{"DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND": "docker"}[k]
	}
	none := func(string) string { return "" }
	tests := []struct {
		name   string
		args   []string
		getenv func(string) string
		want   bool
	}{
		{name: "docker buildx", args: []string{"/cfg/cli-plugins/docker-buildx", "buildx", "build", "."}, getenv: fromDocker, want: true},
		{name: "docker xbuild", args: []string{"/cfg/cli-plugins/docker-xbuild", "xbuild", "ls"}, getenv: fromDocker, want: true},
		{name: "plugin file run by hand", args: []string{"docker-buildx", "buildx", "version"}, getenv: none, want: true},
		{name: "compose runs the plugin file", args: []string{"/cfg/cli-plugins/docker-buildx", "bake", "--file", "-"}, getenv: none, want: false},
		{name: "plain xbuild", args: []string{"xbuild", "build", "."}, getenv: none, want: false},
		{name: "a builder named buildx", args: []string{"xbuild", "buildx"}, getenv: none, want: false},
		{name: "no arguments", args: []string{"docker-buildx"}, getenv: fromDocker, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := isPlugin(tt.args, tt.getenv); got != tt.want {
				t.Errorf("isPlugin(%q) = %t, want %t", tt.args, got, tt.want)
			}
		})
	}
}
