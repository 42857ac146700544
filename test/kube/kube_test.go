package kube

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"
)

// The kube-apiserver binary (make test-kube builds it from this module) and the rendered manifests
// (make manifests), with the repository root relative to this package.
var (
	binary       = os.Getenv("KUBE_APISERVER")
	manifestsDir = envOr("KUBE_MANIFESTS", "../../out/manifests")
	repoRoot     = "../.."
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// start runs a fresh API server for one test.
func start(t *testing.T) *Applier {
	t.Helper()
	if binary == "" {
		t.Fatal("KUBE_APISERVER is not set: run make test-kube (it builds kube-apiserver and renders the manifests)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	s, err := Start(ctx, binary, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	t.Logf("API server ready in %s", time.Since(began).Round(100*time.Millisecond))
	a, err := NewApplier(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func decode(t *testing.T, stream string) []Object {
	t.Helper()
	objects, err := Decode([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	return objects
}

// eksObjects are what EKS creates in a new cluster and the stacks patch: the gp2 StorageClass, which
// since Kubernetes 1.30 EKS no longer marks as the default class (EKS user guide, Kubernetes 1.30
// release notes). Without it the stacks' gp2 patch would have to create the class and be refused
// for lack of a provisioner.
const eksObjects = `# EKS
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: gp2
provisioner: kubernetes.io/aws-ebs
parameters:
  type: gp2
  fsType: ext4
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
`

// stacks are the stack files and whether each runs on EKS (dev, prod) or on any cluster (local).
var stacks = []struct {
	name string
	eks  bool
}{{"dev", true}, {"prod", true}, {"local", false}}

// Every object of every stack applies to a fresh API server of the stacks' Kubernetes minor, with no
// error and no warning, and every pod passes the restricted Pod Security Standard.
func TestEveryStackAppliesToARealAPIServer(t *testing.T) {
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			stream, err := os.ReadFile(filepath.Join(manifestsDir, st.name+".yaml"))
			if err != nil {
				t.Fatalf("%v (make manifests STACK=%s renders it)", err, st.name)
			}
			objects := decode(t, string(stream))
			var existing []Object
			if st.eks {
				existing = decode(t, eksObjects)
			}
			a := start(t)
			if st.eks {
				requireServerMinor(t, a, st.name)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			for _, err := range a.ApplyStack(ctx, existing, objects) {
				t.Error(err)
			}
			t.Logf("%d objects applied", len(objects))
		})
	}
}

// requireServerMinor checks that the API server is the minor the stack's cluster runs
// (linkage:kubernetesVersion in Pulumi.<stack>.yaml), so the manifests meet the version they will.
func requireServerMinor(t *testing.T, a *Applier, stack string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Config map[string]any `json:"config"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	want, _ := file.Config["linkage:kubernetesVersion"].(string)
	disc, err := discovery.NewDiscoveryClientForConfig(a.config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := disc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Major + "." + strings.TrimSuffix(v.Minor, "+"); got != want {
		t.Fatalf("the API server is %s (%s) but Pulumi.%s.yaml deploys Kubernetes %q: build kube-apiserver from the k8s.io/kubernetes release of that minor (test/kube/go.mod)", got, v.GitVersion, stack, want)
	}
}

// broken are manifests a real API server refuses, each with what its refusal says. Each would pass
// a YAML linter; some would pass strict decoding into the Go types too.
var broken = []struct {
	name, manifest, refusal string
}{
	{"Secret stringData that is not a map", `# broken
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: app}
stringData: "[secret]"
`, "stringData"},
	{"unknown field", `# broken
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: app}
datas: {LOG_LEVEL: debug}
`, ".datas: field not declared in schema"},
	{"a patch of an object that does not exist", `# broken
# server-side apply patch
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: gp2
  annotations: {storageclass.kubernetes.io/is-default-class: "false"}
`, "provisioner: Required value"},
	{"a root container in a restricted namespace", `# broken
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: app}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: linkage:dev
        securityContext: {runAsUser: 0, allowPrivilegeEscalation: true}
`, `violates PodSecurity "restricted:latest"`},
	{"pods in a namespace that does not enforce restricted", `# broken
apiVersion: v1
kind: Namespace
metadata:
  name: lax
  labels: {pod-security.kubernetes.io/enforce: baseline}
---
# broken
apiVersion: batch/v1
kind: Job
metadata: {name: smoke, namespace: lax}
spec:
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: smoke
        image: linkage:dev
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`, `enforces Pod Security "baseline", not "restricted"`},
}

// The namespace the broken manifests go to, as the stacks declare theirs.
const appNamespace = `# test
apiVersion: v1
kind: Namespace
metadata:
  name: app
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
`

// make test-kube fails on a broken manifest: each of these is refused by the same path the stacks
// take, and the same path accepts the namespace alone.
func TestABrokenManifestFails(t *testing.T) {
	a := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if errs := a.ApplyStack(ctx, nil, decode(t, appNamespace)); len(errs) > 0 {
		t.Fatalf("the namespace alone: %v", errors.Join(errs...))
	}
	for _, c := range broken {
		t.Run(c.name, func(t *testing.T) {
			errs := a.ApplyStack(ctx, nil, decode(t, appNamespace+"---\n"+c.manifest))
			if len(errs) == 0 {
				t.Fatal("applied without an error")
			}
			if err := errors.Join(errs...); !strings.Contains(err.Error(), c.refusal) {
				t.Fatalf("want a refusal mentioning %q, got: %v", c.refusal, err)
			}
		})
	}
}
