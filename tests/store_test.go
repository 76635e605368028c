package tests

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	dockerclient "github.com/moby/moby/client"
)

// store status shows the active store from the engine and what the other
// store still holds: here an image left in the classic engine's containerd,
// as switching from the containerd store back to classic leaves it.
func TestStoreStatus(t *testing.T) {
	t.Parallel()
	classic := env.DockerClassic
	api := engine(t, classic)
	info, err := api.Info(t.Context(), dockerclient.InfoOptions{})
	if err != nil || info.Info.Containerd == nil {
		t.Fatalf("engine info: %v", err)
	}
	sock, ns := info.Info.Containerd.Address, info.Info.Containerd.Namespaces.Containers
	cfg := remoteBuilder(t)
	name := "docker.io/" + uniqueTag(t, "hidden")
	mustXB(t, cfg, []string{"build", "--platform", "linux/amd64", "--load=containerd://" + sock + "?namespace=" + ns,
		"-t", name, "--build-arg", baseArg(), helloContext(t)})
	c, err := client.New(sock, client.WithDefaultNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Cleanup(func() {
		_ = c.ImageService().Delete(namespaces.WithNamespace(context.Background(), ns), name, images.SynchronousDelete())
	})

	r := mustXB(t, t.TempDir(), []string{"store", "status", "--engine", classic, "--format", "json"})
	var st struct {
		Active   struct{ Store string }
		Inactive *struct {
			Store  string
			Images int
			Bytes  int64
			Names  []string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("--format json: %v\n%s", err, r.Stdout)
	}
	if st.Active.Store != "classic" || st.Inactive == nil || st.Inactive.Store != "containerd" {
		t.Fatalf("status = %s", r.Stdout)
	}
	if st.Inactive.Images < 1 || st.Inactive.Bytes == 0 || !slices.Contains(st.Inactive.Names, name) {
		t.Errorf("inactive containerd store = %+v, want it to hold %s", st.Inactive, name)
	}
	r = mustXB(t, t.TempDir(), []string{"store", "status"}, withDockerHost(classic))
	if !strings.Contains(r.Stdout, "containerd store is hidden while classic is active") || !strings.Contains(r.Stdout, name) {
		t.Errorf("table status:\n%s", r.Stdout)
	}
	r = mustXB(t, t.TempDir(), []string{"store", "status", "--engine", env.DockerContainerd})
	if !strings.Contains(squeeze(r.Stdout), "containerd active") || !strings.Contains(squeeze(r.Stdout), "classic inactive") {
		t.Errorf("containerd engine status:\n%s", r.Stdout)
	}
	if r := xb(t, t.TempDir(), []string{"store", "status", "--format", "yaml"}); r.Code != 1 {
		t.Errorf("--format yaml: %s", r)
	}
}
