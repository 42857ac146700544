package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/components/componenttest"
	"github.com/linkage-platform/linkage/internal/pulumimock"
)

// repoRoot is the repository (go.mod and app/), two levels up from this package.
var repoRoot = filepath.Join("..", "..")

func buildImage(t *testing.T, args *ImageArgs) (*pulumimock.Mocks, string) {
	t.Helper()
	m := pulumimock.New("linkage", "test")
	m.OnResource = func(a pulumi.MockResourceArgs) (resource.PropertyMap, error) {
		switch a.TypeToken {
		case "aws:ecr/repository:Repository":
			return resource.NewPropertyMapFromMap(map[string]any{
				"repositoryUrl": "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod",
				"registryId":    "123456789012",
			}), nil
		case "docker:index/image:Image":
			return resource.NewPropertyMapFromMap(map[string]any{
				"repoDigest": "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod@sha256:" +
					"abababababababababababababababababababababababababababababababab",
			}), nil
		}
		return nil, nil
	}
	m.OnCall = func(a pulumi.MockCallArgs) (resource.PropertyMap, error) {
		if a.Token == "aws:ecr/getAuthorizationToken:getAuthorizationToken" {
			return resource.NewPropertyMapFromMap(map[string]any{
				"userName": "AWS", "password": "ecr-token", "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
			}), nil
		}
		return nil, nil
	}
	ref := make(chan string, 1)
	err := pulumimock.RunWith(m, pulumimock.Config{}, func(ctx *pulumi.Context) error {
		img, err := NewImage(ctx, "linkage", args)
		if err != nil {
			return err
		}
		img.Ref.ApplyT(func(r string) string { ref <- r; return r })
		return nil
	})
	require.NoError(t, err)
	return m, componenttest.Await(t, ref)
}

func TestAGivenImageIsDeployedAsIs(t *testing.T) {
	m, ref := buildImage(t, &ImageArgs{Ref: "ghcr.io/example/linkage:1.4.2", Context: repoRoot, Push: true})
	require.Equal(t, "ghcr.io/example/linkage:1.4.2", ref)
	for _, r := range m.Resources() {
		require.Equal(t, "linkage:components:Image", r.Type, "nothing is built or created")
	}
}

func TestImageIsBuiltPushedToECRAndDeployedByDigest(t *testing.T) {
	m, ref := buildImage(t, &ImageArgs{Context: repoRoot, Push: true, RepositoryName: "linkage-prod", KeepImages: 30, Platform: "linux/amd64"})
	require.Equal(t, "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod@sha256:"+
		"abababababababababababababababababababababababababababababababab", ref)

	repo := componenttest.Find(t, m, "aws:ecr/repository:Repository", "linkage")
	require.Equal(t, "IMMUTABLE", repo.Input("imageTagMutability"))
	require.Equal(t, true, repo.Input("imageScanningConfiguration.scanOnPush"))

	var policy struct {
		Rules []struct {
			RulePriority int `json:"rulePriority"`
			Selection    struct {
				TagStatus   string `json:"tagStatus"`
				CountType   string `json:"countType"`
				CountNumber int    `json:"countNumber"`
			} `json:"selection"`
		} `json:"rules"`
	}
	lp := componenttest.Find(t, m, "aws:ecr/lifecyclePolicy:LifecyclePolicy", "linkage")
	raw, ok := lp.Input("policy").(string)
	require.True(t, ok, "the lifecycle policy is a JSON string")
	require.NoError(t, json.Unmarshal([]byte(raw), &policy))
	require.Len(t, policy.Rules, 2)
	require.Equal(t, "untagged", policy.Rules[0].Selection.TagStatus)
	last := policy.Rules[1]
	require.Equal(t, "any", last.Selection.TagStatus, "the catch-all rule comes last")
	require.Equal(t, 30, last.Selection.CountNumber)

	tag, err := contentTag(repoRoot)
	require.NoError(t, err)
	img := componenttest.Find(t, m, "docker:index/image:Image", "linkage")
	require.Equal(t, "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod:"+tag, img.Input("imageName"))
	require.Equal(t, filepath.Join(repoRoot, "app/Dockerfile"), img.Input("build.dockerfile"))
	require.Equal(t, repoRoot, img.Input("build.context"))
	require.Equal(t, "linux/amd64", img.Input("build.platform"))
	require.Equal(t, tag, img.Input("build.args.VERSION"))
	require.Equal(t, "AWS", img.Input("registry.username"))
	require.True(t, img.Inputs["registry"].ObjectValue()["password"].ContainsSecrets(), "the registry token stays secret")
}

func TestLocalImageIsBuiltWithoutPushing(t *testing.T) {
	m, ref := buildImage(t, &ImageArgs{Context: repoRoot, Platform: "linux/amd64"})
	tag, err := contentTag(repoRoot)
	require.NoError(t, err)
	require.Equal(t, "linkage:"+tag, ref)
	img := componenttest.Find(t, m, "docker:index/image:Image", "linkage")
	require.Equal(t, true, img.Input("skipPush"))
	require.Empty(t, m.ByType("aws:ecr/repository:Repository"))
}

func TestContentTagFollowsTheImageSources(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, path), []byte(content), 0o644))
	}
	write("go.mod", "module x\n")
	write("go.sum", "")
	write("app/main.go", "package main\n")
	tag, err := contentTag(root)
	require.NoError(t, err)
	require.Regexp(t, `^src-[0-9a-f]{16}$`, tag)

	write("app/main_test.go", "package main\n")
	write("app/testdata/big.json", "{}")
	write("README.md", "docs")
	same, err := contentTag(root)
	require.NoError(t, err)
	require.Equal(t, tag, same, "tests, test data and files outside the image don't change it")

	write("app/main.go", "package main // changed\n")
	changed, err := contentTag(root)
	require.NoError(t, err)
	require.NotEqual(t, tag, changed)

	_, err = contentTag(filepath.Join(root, "missing"))
	require.ErrorContains(t, err, "image sources")
}

// CI tags the one build of a commit with the commit: the immutable repository then refuses a second
// build under that tag instead of silently replacing what dev tested.
func TestImageIsTaggedWithTheGivenCommit(t *testing.T) {
	const commit = "3f2a9c1d4b5e6f708192a3b4c5d6e7f801234567"
	m, _ := buildImage(t, &ImageArgs{Context: repoRoot, Push: true, RepositoryName: "linkage-dev", KeepImages: 30, Platform: "linux/amd64", Tag: commit})
	img := componenttest.Find(t, m, "docker:index/image:Image", "linkage")
	require.Equal(t, "123456789012.dkr.ecr.us-east-1.amazonaws.com/linkage-prod:"+commit, img.Input("imageName"))
	require.Equal(t, commit, img.Input("build.args.VERSION"))
}
