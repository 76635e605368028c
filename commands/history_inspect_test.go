package commands

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xbuild/xbuild/builder/history"
)

func TestPrintHistoryDetails(t *testing.T) {
	t.Parallel()
	started := time.Date(2025, 2, 7, 11, 56, 24, 0, time.UTC)
	rec := historyTestRecords()[1]
	tests := []struct {
		name    string
		details history.Details
		footer  historyInspectFooter
		want    []string
		notWant []string
	}{
		{
			name: "completed",
			details: history.Details{
				Name: "app (bin)", Ref: "failref", Dockerfile: "Dockerfile", Target: "bin", Platform: []string{"linux/amd64"},
				StartedAt: &started, Duration: 61 * time.Second, Status: history.StatusCompleted,
				NumCompletedSteps: 16, NumTotalSteps: 16, NumCachedSteps: 4,
				Config:      history.Config{ImageResolveMode: "local", Memory: "1073741824"},
				BuildArgs:   []history.KeyValue{{Name: "FOO", Value: "bar"}},
				Materials:   []history.Material{{URI: "pkg:docker/alpine@3", Digests: []string{"sha256:aaa"}}},
				Attachments: []history.AttachmentSummary{{Digest: "sha256:bbb", Platform: "linux/amd64", Type: "https://slsa.dev/provenance/v1"}},
			},
			footer: historyInspectFooter{prog: "xbuild"},
			want: []string{
				"Name:\t\tapp (bin)\nDockerfile:\tDockerfile\nTarget:\t\tbin\nPlatforms:\tlinux/amd64\n\n",
				"Started:\t2025-02-07 11:56:24\nDuration:\t1m  1s\nBuild Steps:\t16/16 (25% cached)\n\n",
				"Image Resolve Mode:\tlocal\nMemory:\t\t\t1GiB\n\n",
				"BUILD ARG\tVALUE\nFOO\t\tbar\n\n",
				"Materials:\nURI\t\t\tDIGEST\npkg:docker/alpine@3\tsha256:aaa\n\n",
				"Attachments:\nDIGEST\t\tPLATFORM\tTYPE\nsha256:bbb\tlinux/amd64\thttps://slsa.dev/provenance/v1\n\n",
				"Print build logs: xbuild history logs failref\nView build in Docker Desktop: docker-desktop://dashboard/build/b/b0/failref\n",
			},
			notWant: []string{"Ref:", "Error:", "Logs:"},
		},
		{
			name: "failed, newest",
			details: history.Details{
				Ref: "failref", StartedAt: &started, Duration: time.Second, Status: history.StatusFailed,
				NumCompletedSteps: 2, NumTotalSteps: 3,
				Error: &history.ErrorDetails{Code: 2, Message: "exit code: 3", Name: "[2/2] RUN exit 3", Logs: []string{"boom"}, Sources: []byte("Dockerfile:2\n>>> RUN exit 3\n\n")},
			},
			footer: historyInspectFooter{prog: "docker xbuild", showRef: true},
			want: []string{
				"Ref:\tfailref\n",
				"Error:\t\tUnknown exit code: 3\n",
				"Dockerfile:2\n>>> RUN exit 3\n\nLogs:\n> => [2/2] RUN exit 3:\n> boom\n\n",
				"Print build logs: docker xbuild history logs failref\n",
			},
		},
		{
			name:    "running, no steps yet",
			details: history.Details{Ref: "r", StartedAt: &started, Duration: 3 * time.Second, Status: history.StatusRunning},
			footer:  historyInspectFooter{prog: "xbuild"},
			want:    []string{"Duration:\t3.0s (running)\n", "Build Steps:\t0/0 (0% cached)\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			printHistoryDetails(&out, &tt.details, rec, tt.footer)
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("printHistoryDetails() lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("printHistoryDetails() has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestHistoryBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"1073741824": "1GiB", "-1": "-1", "2g": "2g", "512": "512B"} {
		if got := historyBytes(in); got != want {
			t.Errorf("historyBytes(%q) = %q, want %q", in, got, want)
		}
	}
}
