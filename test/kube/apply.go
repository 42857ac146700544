package kube

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// Object is one document of the stream make manifests writes: the object, the Pulumi resource that
// declares it (the document's first comment) and whether it is a server-side apply patch of an
// object that exists already.
type Object struct {
	*unstructured.Unstructured
	URN   string
	Patch bool
}

func (o Object) String() string {
	return fmt.Sprintf("%s %s (%s)", o.GetKind(), key(o.GetNamespace(), o.GetName()), o.URN)
}

func key(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// Decode reads a manifest stream.
func Decode(stream []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var out []Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var o Object
		for line := range strings.Lines(string(doc)) {
			switch c, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); {
			case !ok:
			case c == "server-side apply patch":
				o.Patch = true
			case o.URN == "":
				o.URN = c
			}
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", o.URN, err)
		}
		if len(m) == 0 {
			continue
		}
		o.Unstructured = &unstructured.Unstructured{Object: m}
		out = append(out, o)
	}
}

// rank orders kinds so that nothing is applied before what it lives in or is typed by: namespaces and
// CRDs first, then identities and configuration, then everything else.
func rank(kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "CustomResourceDefinition":
		return 1
	case "ServiceAccount", "ClusterRole", "Role", "StorageClass", "PriorityClass":
		return 2
	case "ClusterRoleBinding", "RoleBinding", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service":
		return 3
	}
	return 4
}

// Order sorts objects into dependency order, keeping the stream's order within a rank.
func Order(objects []Object) []Object {
	out := slices.Clone(objects)
	slices.SortStableFunc(out, func(a, b Object) int { return rank(a.GetKind()) - rank(b.GetKind()) })
	return out
}

// Applier server-side applies objects and fails on any warning the server sends back.
type Applier struct {
	config   *rest.Config
	dyn      dynamic.Interface
	mapper   meta.ResettableRESTMapper
	warnings *warnings
}

// warnings collects the API server's Warning headers (deprecations, Pod Security, unknown fields).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// NewApplier talks to the server at cfg.
func NewApplier(cfg *rest.Config) (*Applier, error) {
	w := &warnings{}
	c := rest.CopyConfig(cfg)
	c.WarningHandler = w
	dyn, err := dynamic.NewForConfig(c)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return nil, err
	}
	return &Applier{config: c, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)), warnings: w}, nil
}

// The field managers: the stacks' objects are applied as the Pulumi program would; the objects the
// platform provides as a manager of their own, so that applying a stack's patch to one of them
// leaves the fields the patch does not name with their owner instead of removing them.
const (
	fieldManager    = "linkage-test-kube"
	platformManager = "linkage-test-kube-platform"
)

// Apply server-side applies one object with strict field validation; a warning is an error too.
func (a *Applier) Apply(ctx context.Context, o Object) error {
	return a.applyAs(ctx, fieldManager, o)
}

func (a *Applier) applyAs(ctx context.Context, manager string, o Object) error {
	res, err := a.resource(ctx, o.GroupVersionKind(), o.GetNamespace())
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	body, err := o.MarshalJSON()
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	_, err = res.Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
		FieldManager: manager, Force: new(true), FieldValidation: "Strict",
	})
	return a.outcome(o.String(), err)
}

// DryRunCreate creates obj with dryRun=All: admission (Pod Security enforcement among it) and
// validation run, nothing is stored.
func (a *Applier) DryRunCreate(ctx context.Context, what string, obj *unstructured.Unstructured) error {
	res, err := a.resource(ctx, obj.GroupVersionKind(), obj.GetNamespace())
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	_, err = res.Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
	return a.outcome(what, err)
}

func (a *Applier) outcome(what string, err error) error {
	ws := a.warnings.take()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(ws) > 0 {
		return fmt.Errorf("%s: the API server warned: %s", what, strings.Join(ws, "; "))
	}
	return nil
}

// resource finds the REST resource of gvk, rediscovering once so that freshly applied CRDs are found
// as soon as the server serves them.
func (a *Applier) resource(ctx context.Context, gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, error) {
	var mapping *meta.RESTMapping
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if mapping, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		a.mapper.Reset()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dyn.Resource(mapping.Resource).Namespace(namespace), nil
	}
	return a.dyn.Resource(mapping.Resource), nil
}

// PodTemplate returns the pod template of a workload object, if it has one.
func PodTemplate(o *unstructured.Unstructured) (map[string]any, bool) {
	path := []string{"spec", "template"}
	switch o.GetKind() {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template"}
	default:
		return nil, false
	}
	t, ok, _ := unstructured.NestedMap(o.Object, path...)
	return t, ok
}

// PodOf is the Pod a workload's controller would create from its template; a StatefulSet's controller
// adds a volume for each of its volumeClaimTemplates, bound to that pod's claim.
func PodOf(o Object, template map[string]any) *unstructured.Unstructured {
	spec, _ := template["spec"].(map[string]any)
	spec = runtime.DeepCopyJSON(spec)
	claims, _, _ := unstructured.NestedSlice(o.Object, "spec", "volumeClaimTemplates")
	for _, c := range claims {
		name, _, _ := unstructured.NestedString(c.(map[string]any), "metadata", "name")
		volumes, _ := spec["volumes"].([]any)
		spec["volumes"] = append(volumes, map[string]any{
			"name": name, "persistentVolumeClaim": map[string]any{"claimName": name + "-" + o.GetName() + "-0"},
		})
	}
	pod := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": strings.ToLower(o.GetKind()) + "-" + o.GetName(), "namespace": o.GetNamespace()},
		"spec":     spec,
	}}
	if labels, ok, _ := unstructured.NestedStringMap(template, "metadata", "labels"); ok {
		pod.SetLabels(labels)
	}
	return pod
}

// PodSecurityLevel is the Pod Security Standard every namespace the stacks run pods in must enforce.
const PodSecurityLevel = "restricted"

// ApplyStack applies a stack's objects in dependency order and checks its pods: every namespace it
// declares and runs pods in enforces PodSecurityLevel, and the Pod each workload's controller would
// create passes admission (dry run: there is no scheduler or kubelet). existing are objects the
// platform provides before the stack runs (the stack's patches apply to them). Every failure is
// returned, not just the first.
func (a *Applier) ApplyStack(ctx context.Context, existing, objects []Object) []error {
	var errs []error
	for _, o := range existing {
		if err := a.applyAs(ctx, platformManager, o); err != nil {
			errs = append(errs, fmt.Errorf("existing object: %w", err))
		}
	}
	ordered := Order(objects)
	namespaces := map[string]Object{}
	for _, o := range ordered {
		if o.GetKind() != "Namespace" {
			continue
		}
		namespaces[o.GetName()] = o
		if err := a.Apply(ctx, o); err != nil {
			errs = append(errs, err)
		}
		// The ServiceAccount controller (not running here) gives every namespace its default account,
		// which admission requires of pods that name no other.
		sa := Object{URN: "service account controller", Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "default", "namespace": o.GetName()},
		}}}
		if err := a.Apply(ctx, sa); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range ordered {
		if o.GetKind() == "Namespace" {
			continue
		}
		if err := a.Apply(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range ordered {
		template, ok := PodTemplate(o.Unstructured)
		if !ok {
			continue
		}
		if ns, declared := namespaces[o.GetNamespace()]; declared {
			if level := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; level != PodSecurityLevel {
				errs = append(errs, fmt.Errorf("%s runs pods in namespace %s, which enforces Pod Security %q, not %q",
					o, o.GetNamespace(), level, PodSecurityLevel))
			}
		}
		if err := a.DryRunCreate(ctx, "the pod of "+o.String(), PodOf(o, template)); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
