// Package manifests turns the Kubernetes objects a Pulumi program declares back into manifests and
// checks them the way the API server would: each one is decoded strictly into its k8s.io/api type, so
// an unknown field, a misspelt one or a wrong type fails before anything reaches a cluster. It works
// on plain values (the resource inputs recorded under mocks) and knows nothing of Pulumi itself.
package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one Kubernetes object declared by the program.
type Object struct {
	// URN identifies the Pulumi resource that declares it.
	URN string
	// Patch is true for pulumi-kubernetes *Patch resources (server-side apply of some fields).
	Patch bool
	// Manifest is the object as it would be sent to the API server.
	Manifest map[string]any
}

// GVK is the group, version and kind of a pulumi-kubernetes resource type token
// (kubernetes:apps/v1:Deployment → apps/v1 Deployment; kubernetes:core/v1:Secret → v1 Secret).
// ok is false for tokens that are not Kubernetes objects: providers, Helm releases, YAML and
// Kustomize groups, lists.
func GVK(token string) (gvk schema.GroupVersionKind, patch bool, ok bool) {
	rest, found := strings.CutPrefix(token, "kubernetes:")
	if !found {
		return gvk, false, false
	}
	groupVersion, kind, found := strings.Cut(rest, ":")
	if !found {
		return gvk, false, false
	}
	group, version, found := strings.Cut(groupVersion, "/")
	if !found || strings.HasSuffix(kind, "List") {
		return gvk, false, false
	}
	switch group {
	case "helm.sh", "yaml", "kustomize":
		return gvk, false, false
	case "core":
		group = ""
	}
	kind, patch = strings.CutSuffix(kind, "Patch")
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}, patch, true
}

// scheme knows the API groups the stacks use; an object of any other group fails Check rather than
// passing unchecked.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, networkingv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme, storagev1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // the k8s.io/api registrations are static: this cannot fail at run time
		}
	}
	return s
}()

// Check decodes the object strictly into its k8s.io/api type: unknown or duplicate fields, fields
// in the wrong case and values of the wrong type are errors, as are a missing or unexpected
// apiVersion/kind, and (except for patches) a missing name.
func Check(o Object) error {
	gvk, err := manifestGVK(o.Manifest)
	if err != nil {
		return err
	}
	typed, err := scheme.New(gvk)
	if err != nil {
		return fmt.Errorf("%s: no Kubernetes type for %s: %w", o.URN, gvk, err)
	}
	if err := Decode(o.Manifest, typed); err != nil {
		return fmt.Errorf("%s: %s: %w", o.URN, gvk.Kind, err)
	}
	if meta, ok := o.Manifest["metadata"].(map[string]any); !o.Patch && (!ok || meta["name"] == nil || meta["name"] == "") {
		return fmt.Errorf("%s: %s has no metadata.name", o.URN, gvk.Kind)
	}
	return nil
}

// Decode decodes a plain value strictly into a typed one (a k8s.io/api object, or any struct with
// JSON tags): unknown or duplicate fields, fields in the wrong case and values of the wrong type are
// errors. Tests read declared objects through it instead of chasing map[string]any chains.
func Decode(plain any, into any) error {
	raw, err := json.Marshal(plain)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(raw, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func manifestGVK(m map[string]any) (schema.GroupVersionKind, error) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if apiVersion == "" || kind == "" {
		return schema.GroupVersionKind{}, fmt.Errorf("manifest without apiVersion/kind: %v", m["metadata"])
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	return gv.WithKind(kind), nil
}

// CheckAll checks every object and reports every problem at once.
func CheckAll(objects []Object) error {
	var errs []error
	for _, o := range objects {
		if err := Check(o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WriteYAML writes the objects as one YAML stream, ordered by namespace, kind and name so that two
// runs (and two commits) diff cleanly; each document starts with a comment naming its resource.
func WriteYAML(w io.Writer, objects []Object) error {
	sorted := slices.Clone(objects)
	slices.SortStableFunc(sorted, func(a, b Object) int { return strings.Compare(sortKey(a), sortKey(b)) })
	var buf bytes.Buffer
	for i, o := range sorted {
		raw, err := yaml.Marshal(o.Manifest)
		if err != nil {
			return fmt.Errorf("%s: %w", o.URN, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		fmt.Fprintf(&buf, "# %s\n", o.URN)
		if o.Patch {
			buf.WriteString("# server-side apply patch\n")
		}
		buf.Write(raw)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func sortKey(o Object) string {
	meta, _ := o.Manifest["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	kind, _ := o.Manifest["kind"].(string)
	return strings.Join([]string{ns, kind, name, o.URN}, "\x00")
}

// New builds the Object a resource declares from its type token and plain inputs (apiVersion and
// kind come from the token when the inputs lack them); ok is false when the token is not a
// Kubernetes object.
func New(urn, token string, inputs map[string]any) (o Object, ok bool) {
	gvk, patch, ok := GVK(token)
	if !ok {
		return Object{}, false
	}
	m := make(map[string]any, len(inputs)+2)
	for k, v := range inputs {
		m[k] = v
	}
	if _, set := m["apiVersion"]; !set {
		m["apiVersion"] = gvk.GroupVersion().String()
	}
	if _, set := m["kind"]; !set {
		m["kind"] = gvk.Kind
	}
	return Object{URN: urn, Patch: patch, Manifest: m}, true
}
