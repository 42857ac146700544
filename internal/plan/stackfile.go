package plan

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// SecretPlaceholder stands in for encrypted stack config values, which can't be decrypted offline.
const SecretPlaceholder = "offline-plan-placeholder"

// Project reads the project name from dir/Pulumi.yaml.
func Project(dir string) (string, error) {
	var project struct {
		Name string `json:"name"`
	}
	if err := readYAML(filepath.Join(dir, "Pulumi.yaml"), &project); err != nil {
		return "", err
	}
	if project.Name == "" {
		return "", fmt.Errorf("%s: no project name", filepath.Join(dir, "Pulumi.yaml"))
	}
	return project.Name, nil
}

// Stacks lists the stacks that have a Pulumi.<stack>.yaml in dir, sorted.
func Stacks(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "Pulumi.*.yaml"))
	if err != nil {
		return nil, err
	}
	var stacks []string
	for _, f := range files {
		stacks = append(stacks, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	sort.Strings(stacks)
	return stacks, nil
}

// LoadConfig reads dir/Pulumi.<stack>.yaml into the form the engine hands a program: scalars as strings,
// lists and objects as JSON. Encrypted values ({secure: ...}) become SecretPlaceholder and their keys
// are marked secret.
func LoadConfig(dir, stack string) (pulumimock.Config, error) {
	path := filepath.Join(dir, "Pulumi."+stack+".yaml")
	var file struct {
		Config map[string]any `json:"config"`
	}
	if err := readYAML(path, &file); err != nil {
		return pulumimock.Config{}, err
	}
	cfg := pulumimock.Config{Values: map[string]string{}}
	for key, v := range file.Config {
		if !strings.Contains(key, ":") {
			return pulumimock.Config{}, fmt.Errorf("%s: config key %q has no namespace (want e.g. linkage:%s)", path, key, key)
		}
		v, secret := unseal(v)
		if secret {
			cfg.Secrets = append(cfg.Secrets, key)
		}
		s, err := configString(v)
		if err != nil {
			return pulumimock.Config{}, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		cfg.Values[key] = s
	}
	sort.Strings(cfg.Secrets)
	return cfg, nil
}

// unseal replaces {secure: ...} values, at any depth, by the placeholder and reports whether it did.
func unseal(v any) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		if _, ok := t["secure"]; ok && len(t) == 1 {
			return SecretPlaceholder, true
		}
		secret := false
		out := make(map[string]any, len(t))
		for k, e := range t {
			var s bool
			out[k], s = unseal(e)
			secret = secret || s
		}
		return out, secret
	case []any:
		secret := false
		out := make([]any, len(t))
		for i, e := range t {
			var s bool
			out[i], s = unseal(e)
			secret = secret || s
		}
		return out, secret
	}
	return v, false
}

func configString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case nil:
		return "", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func readYAML(path string, out any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
