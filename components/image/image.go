// Package image is the app's container image: a given reference deployed as it is, or app/Dockerfile
// built and pushed to an ECR repository created here (scan on push, immutable tags, a lifecycle
// policy), or built into the local Docker engine for a local cluster.
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ImageArgs choose where the app's image comes from.
type ImageArgs struct {
	// Ref, when set, is deployed exactly as given (a semver tag or a digest); nothing is built, and
	// rolling back is setting the previous reference.
	Ref string
	// Context is the repository root (go.mod and app/), where `docker build -f app/Dockerfile .` runs.
	Context string
	// Push builds into an ECR repository created here (scan on push, immutable tags, lifecycle
	// policy) and deploys by repo digest. False builds into the local Docker engine only, for local
	// clusters that share it (minikube's docker-env).
	Push bool
	// RepositoryName is the ECR repository.
	RepositoryName string
	// KeepImages is how many pushed images the lifecycle policy keeps (older ones are rollback
	// targets until then).
	KeepImages int
	// Tag names the built image (CI: the commit it was built from); empty names it after its sources.
	// The repository's tags are immutable: a tag is pushed once, a rebuild of it is refused.
	Tag string
	// Platform the image is built for (linux/amd64: the node groups are x86).
	Platform string
}

// Image is the app's container image.
type Image struct {
	pulumi.ResourceState

	// Ref is what the Deployments run: the given reference, the pushed image's repo digest, or the
	// local image name.
	Ref pulumi.StringOutput `pulumi:"ref"`
	// RepositoryURL is the ECR repository ("" unless pushed).
	RepositoryURL pulumi.StringOutput `pulumi:"repositoryUrl"`
}

// dockerfile is the build file, relative to the build context.
const dockerfile = "app/Dockerfile"

// NewImage declares the image. With Push the AWS provider comes from opts.
func NewImage(ctx *pulumi.Context, name string, args *ImageArgs, opts ...pulumi.ResourceOption) (*Image, error) {
	img := &Image{}
	if err := ctx.RegisterComponentResource("linkage:components:Image", name, img, opts...); err != nil {
		return nil, err
	}
	var err error
	switch {
	case args.Ref != "":
		img.Ref = pulumi.String(args.Ref).ToStringOutput()
		img.RepositoryURL = pulumi.String("").ToStringOutput()
	case args.Push:
		err = img.buildAndPush(ctx, name, args)
	default:
		err = img.buildLocal(ctx, name, args)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(img, pulumi.Map{
		"ref": img.Ref, "repositoryUrl": img.RepositoryURL,
	}); err != nil {
		return nil, err
	}
	return img, nil
}

func (img *Image) buildAndPush(ctx *pulumi.Context, name string, args *ImageArgs) error {
	parent := pulumi.Parent(img)
	repo, err := ecr.NewRepository(ctx, name, &ecr.RepositoryArgs{
		Name:               pulumi.String(args.RepositoryName),
		ImageTagMutability: pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{
			ScanOnPush: pulumi.Bool(true),
		},
		EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
			ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("AES256")},
		},
		// `pulumi destroy` uninstalls cleanly: the images go with the repository.
		ForceDelete: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return fmt.Errorf("repository: %w", err)
	}
	policy, err := lifecyclePolicy(args.KeepImages)
	if err != nil {
		return err
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, name, &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(policy),
	}, parent); err != nil {
		return fmt.Errorf("lifecycle policy: %w", err)
	}
	tag, err := imageTag(args)
	if err != nil {
		return err
	}
	creds := ecr.GetAuthorizationTokenOutput(ctx, ecr.GetAuthorizationTokenOutputArgs{RegistryId: repo.RegistryId}, parent)
	built, err := docker.NewImage(ctx, name, &docker.ImageArgs{
		ImageName: pulumi.Sprintf("%s:%s", repo.RepositoryUrl, tag),
		Build:     buildArgs(args, tag),
		Registry: &docker.RegistryArgs{
			Server:   repo.RepositoryUrl,
			Username: creds.UserName(),
			Password: pulumi.ToSecret(creds.Password()).(pulumi.StringOutput),
		},
	}, parent)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	// The digest, not the tag: a Deployment whose image field is unchanged would not roll.
	img.Ref = built.RepoDigest
	img.RepositoryURL = repo.RepositoryUrl
	return nil
}

func (img *Image) buildLocal(ctx *pulumi.Context, name string, args *ImageArgs) error {
	tag, err := imageTag(args)
	if err != nil {
		return err
	}
	built, err := docker.NewImage(ctx, name, &docker.ImageArgs{
		ImageName: pulumi.String("linkage:" + tag),
		Build:     buildArgs(args, tag),
		SkipPush:  pulumi.Bool(true),
	}, pulumi.Parent(img))
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	img.Ref = built.ImageName
	img.RepositoryURL = pulumi.String("").ToStringOutput()
	return nil
}

func buildArgs(args *ImageArgs, version string) *docker.DockerBuildArgs {
	return &docker.DockerBuildArgs{
		Context:        pulumi.String(args.Context),
		Dockerfile:     pulumi.String(filepath.Join(args.Context, dockerfile)),
		Platform:       pulumi.String(args.Platform),
		BuilderVersion: docker.BuilderVersionBuilderBuildKit,
		Args:           pulumi.StringMap{"VERSION": pulumi.String(version)},
	}
}

// lifecyclePolicy expires untagged layers after a day and keeps the newest keep images.
func lifecyclePolicy(keep int) (string, error) {
	type selection struct {
		TagStatus   string `json:"tagStatus"`
		CountType   string `json:"countType"`
		CountUnit   string `json:"countUnit,omitempty"`
		CountNumber int    `json:"countNumber"`
	}
	type rule struct {
		RulePriority int               `json:"rulePriority"`
		Description  string            `json:"description"`
		Selection    selection         `json:"selection"`
		Action       map[string]string `json:"action"`
	}
	expire := map[string]string{"type": "expire"}
	policy := map[string][]rule{"rules": {
		{1, "expire untagged images after a day", selection{"untagged", "sinceImagePushed", "days", 1}, expire},
		// tagStatus "any" must have the lowest priority (highest number).
		{2, fmt.Sprintf("keep the newest %d images", keep), selection{"any", "imageCountMoreThan", "", keep}, expire},
	}}
	raw, err := json.Marshal(policy)
	if err != nil {
		return "", fmt.Errorf("lifecycle policy: %w", err)
	}
	return string(raw), nil
}

// imageTag is the given tag or the sources' hash.
func imageTag(args *ImageArgs) (string, error) {
	if args.Tag != "" {
		return args.Tag, nil
	}
	return contentTag(args.Context)
}

// contentTag names an image after what goes into it (go.mod, go.sum, app/ without tests, as in
// .dockerignore): the same sources give the same tag, so an unchanged app is not pushed again, and a
// changed one gets a new tag, as the repository's immutable tags require.
func contentTag(root string) (string, error) {
	h := sha256.New()
	add := func(path string) error {
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		_, err = io.Copy(h, f)
		return err
	}
	for _, file := range []string{"go.mod", "go.sum"} {
		if err := add(filepath.Join(root, file)); err != nil {
			return "", fmt.Errorf("image sources: %w", err)
		}
	}
	err := filepath.WalkDir(filepath.Join(root, "app"), func(path string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case e.IsDir() && e.Name() == "testdata":
			return filepath.SkipDir
		case e.IsDir() || strings.HasSuffix(e.Name(), "_test.go"):
			return nil
		}
		return add(path)
	})
	if err != nil {
		return "", fmt.Errorf("image sources: %w", err)
	}
	return "src-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}
