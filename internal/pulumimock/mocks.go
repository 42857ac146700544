// Package pulumimock runs Pulumi programs without an engine or a cloud account: it records every
// resource and call the program makes and answers with realistic, deterministic outputs, so tests,
// policy checks and the offline plan can inspect exactly what `pulumi up` would declare.
package pulumimock

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linkage-platform/linkage/internal/manifests"
)

// Resource is one registered resource as the engine would see it.
type Resource struct {
	URN    string
	Type   string
	Name   string
	Parent string // URN of the parent; empty for children of the stack
	ID     string
	// Custom is false for component resources (ours and remote ones such as eks:index:Cluster).
	Custom bool
	Remote bool
	Inputs resource.PropertyMap
	// Outputs are what the mock answered (inputs plus computed properties).
	Outputs resource.PropertyMap

	Provider string
	// Providers are the providers a component hands its children, by package (remote components
	// such as eks:index:Cluster create their resources with them).
	Providers           map[string]string
	DependsOn           []string
	IgnoreChanges       []string
	ReplaceOnChanges    []string
	Protect             bool
	RetainOnDelete      bool
	DeleteBeforeReplace bool
}

// Input returns the input at a dotted path ("scalingConfig.minSize", "tags.Name", "routes[0].gatewayId")
// as a plain Go value, secrets revealed; nil if absent, so that a test of a missing value fails rather
// than panics.
func (r Resource) Input(path string) any {
	return lookup(Plain(r.Inputs, false), path)
}

// Decode decodes the inputs, secrets revealed, strictly into a typed value such as an
// *appsv1.Deployment of k8s.io/api: unknown fields and values of the wrong type are errors, as the API
// server would report them.
func (r Resource) Decode(into any) error {
	if err := manifests.Decode(Plain(r.Inputs, false), into); err != nil {
		return fmt.Errorf("%s: %w", r.URN, err)
	}
	return nil
}

// Call is one provider function invocation (or method call) the program made.
type Call struct {
	Token string
	Args  resource.PropertyMap
}

// Mocks implements pulumi.MockResourceMonitor (with method calls). It is safe for concurrent use.
// Program-specific answers can be added with OnResource and OnCall; anything they do not answer gets the
// package's realistic defaults (see outputs.go).
type Mocks struct {
	Project, Stack string
	// Region and AccountID shape ids, ARNs and endpoints; zero values mean us-east-1 and 123456789012.
	Region, AccountID string

	// OnResource, if set, may override the outputs of a resource; returning nil keeps the defaults.
	OnResource func(args pulumi.MockResourceArgs) (resource.PropertyMap, error)
	// OnCall, if set, may answer a call; returning nil falls through to the defaults.
	OnCall func(args pulumi.MockCallArgs) (resource.PropertyMap, error)

	mu        sync.Mutex
	resources []Resource
	calls     []Call
}

var _ pulumi.MockResourceMonitorWithMethodCall = (*Mocks)(nil)

// New returns mocks for the given project and stack.
func New(project, stack string) *Mocks {
	return &Mocks{Project: project, Stack: stack}
}

func (m *Mocks) region() string {
	if m.Region == "" {
		return "us-east-1"
	}
	return m.Region
}

func (m *Mocks) account() string {
	if m.AccountID == "" {
		return "123456789012"
	}
	return m.AccountID
}

// NewResource records the resource and answers with its outputs.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rec := Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Custom: args.Custom,
		Inputs: args.Inputs.Copy(),
	}
	if rpc := args.RegisterRPC; rpc != nil {
		rec.Parent = rpc.GetParent()
		rec.Remote = rpc.GetRemote()
		rec.Provider = rpc.GetProvider()
		rec.Providers = rpc.GetProviders()
		rec.DependsOn = slices.Sorted(slices.Values(rpc.GetDependencies()))
		rec.IgnoreChanges = rpc.GetIgnoreChanges()
		rec.ReplaceOnChanges = rpc.GetReplaceOnChanges()
		rec.Protect = rpc.GetProtect()
		rec.RetainOnDelete = rpc.GetRetainOnDelete()
		rec.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
	} else if rpc := args.ReadRPC; rpc != nil {
		rec.Parent = rpc.GetParent()
		rec.Provider = rpc.GetProvider()
	}
	rec.URN = m.urn(rec.Parent, rec.Type, rec.Name)

	id, outputs := m.defaultOutputs(args, rec.URN)
	if m.OnResource != nil {
		custom, err := m.OnResource(args)
		if err != nil {
			return "", nil, fmt.Errorf("mock %s %s: %w", args.TypeToken, args.Name, err)
		}
		for k, v := range custom {
			outputs[k] = v
		}
	}
	if args.ID != "" {
		id = args.ID
	}
	if !args.Custom {
		id = "" // components have no id
	}
	rec.ID = id
	rec.Outputs = outputs

	m.mu.Lock()
	m.resources = append(m.resources, rec)
	m.mu.Unlock()
	return id, outputs, nil
}

// Call records a provider function invocation and answers it.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, Call{Token: args.Token, Args: args.Args.Copy()})
	m.mu.Unlock()
	if m.OnCall != nil {
		out, err := m.OnCall(args)
		if err != nil || out != nil {
			return out, err
		}
	}
	return m.defaultCall(args)
}

// MethodCall answers component method calls such as eks:index:Cluster/getKubeconfig.
func (m *Mocks) MethodCall(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return m.Call(args)
}

// urn builds the URN exactly as the SDK's mock monitor does, so parents recorded here match.
func (m *Mocks) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(m.Stack), tokens.PackageName(m.Project), parentType,
		tokens.Type(typ), name))
}

// Resources returns every recorded resource sorted by URN (the order of registration is not stable).
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	out := slices.Clone(m.resources)
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].URN < out[j].URN })
	return out
}

// Calls returns every recorded call sorted by token.
func (m *Mocks) Calls() []Call {
	m.mu.Lock()
	out := slices.Clone(m.calls)
	m.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Token < out[j].Token })
	return out
}

// ByType returns the resources of one type token, sorted by URN.
func (m *Mocks) ByType(typ string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the resource with the type and logical name, if there is exactly one.
func (m *Mocks) Find(typ, name string) (Resource, bool) {
	var found []Resource
	for _, r := range m.ByType(typ) {
		if r.Name == name {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return Resource{}, false
	}
	return found[0], true
}

// ByURN returns the resource with the URN.
func (m *Mocks) ByURN(urn string) (Resource, bool) {
	for _, r := range m.Resources() {
		if r.URN == urn {
			return r, true
		}
	}
	return Resource{}, false
}

// Children returns the direct children of the resource with the URN.
func (m *Mocks) Children(urn string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Parent == urn {
			out = append(out, r)
		}
	}
	return out
}

// Descendants returns every resource under the one with the URN.
func (m *Mocks) Descendants(urn string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		for p := r.Parent; p != ""; {
			if p == urn {
				out = append(out, r)
				break
			}
			parent, ok := m.ByURN(p)
			if !ok {
				break
			}
			p = parent.Parent
		}
	}
	return out
}

// lookup walks a dotted path through nested maps; keys containing dots can't be addressed this way,
// which is why callers reach tag maps with Input("tags") and index them.
func lookup(v any, path string) any {
	if path == "" {
		return v
	}
	for _, part := range strings.Split(path, ".") {
		name, index, indexed := strings.Cut(strings.TrimSuffix(part, "]"), "[")
		if name != "" {
			obj, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = obj[name]
		}
		if indexed {
			list, ok := v.([]any)
			i, err := strconv.Atoi(index)
			if !ok || err != nil || i < 0 || i >= len(list) {
				return nil
			}
			v = list[i]
		}
	}
	return v
}
