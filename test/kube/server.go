// Package kube runs the stacks' Kubernetes objects against a real API server: a kube-apiserver built
// from the k8s.io/kubernetes release of the stacks' minor, on an embedded etcd, with RBAC and a static
// admin token. It sees what mocks and strict decoding cannot: admission (Pod Security), defaulting,
// validation across fields and server-side apply. Run it with make test-kube.
package kube

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/rest"
)

// Server is one kube-apiserver with its own etcd; Close stops both and removes their data.
type Server struct {
	Config *rest.Config
	// Log is the API server's output, for failure reports.
	Log string

	etcd *embed.Etcd
	cmd  *exec.Cmd
	done chan error
}

// ServiceCIDR is the stacks' Service range (linkage:serviceCidr default).
const ServiceCIDR = "172.20.0.0/16"

const adminToken = "linkage-test-kube-admin"

// Start runs etcd in-process and the kube-apiserver binary against it in dir, and waits until the API
// server reports ready (or ctx ends).
func Start(ctx context.Context, binary, dir string) (*Server, error) {
	s := &Server{Log: filepath.Join(dir, "kube-apiserver.log"), done: make(chan error, 1)}
	etcdURL, err := s.startEtcd(filepath.Join(dir, "etcd"))
	if err != nil {
		return nil, err
	}
	if err := s.startAPIServer(binary, dir, etcdURL); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) startEtcd(dir string) (string, error) {
	client, peer := freePort(), freePort()
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{dir + ".log"} // its shutdown complaints would clutter the test output
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", client))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peer))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	var err error
	if s.etcd, err = embed.StartEtcd(cfg); err != nil {
		return "", fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-s.etcd.Server.ReadyNotify():
		return cu.String(), nil
	case <-time.After(time.Minute):
		s.etcd.Close()
		return "", fmt.Errorf("etcd not ready after a minute")
	}
}

// startAPIServer writes the token file, the service-account key and the admission configuration and
// starts kube-apiserver with RBAC, serving on loopback with a self-signed certificate.
func (s *Server) startAPIServer(binary, dir, etcdURL string) error {
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(adminToken+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return err
	}
	saKey := filepath.Join(dir, "sa.key")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(saKey, pemKey, 0o600); err != nil {
		return err
	}
	port := freePort()
	logFile, err := os.Create(s.Log)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(binary,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saKey,
		"--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range="+ServiceCIDR,
		"--profiling=false",
	)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", binary, err)
	}
	go func() { s.done <- s.cmd.Wait(); logFile.Close() }()
	s.Config = &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", port),
		BearerToken:     adminToken,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}, // the server's own self-signed loopback certificate
		QPS:             200, Burst: 400,
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // loopback, self-signed; see startAPIServer
	}}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Config.Host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.done:
			return fmt.Errorf("kube-apiserver exited (%v); log %s:\n%s", err, s.Log, tail(s.Log))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready after 3 minutes; log %s:\n%s", s.Log, tail(s.Log))
		}
	}
}

// Close stops the API server, then etcd.
func (s *Server) Close() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.etcd != nil {
		s.etcd.Close()
	}
}

// freePort asks the kernel for an unused loopback port.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err) // loopback without a free port: nothing in this test can run
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tail is the end of a log file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
