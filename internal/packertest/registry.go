package packertest

import (
	"net"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	registryimage "github.com/hashicorp/packer-plugin-sdk/packer/registry/image"
	sdkrpc "github.com/hashicorp/packer-plugin-sdk/rpc"
	"github.com/mitchellh/mapstructure"
)

// RegistryImages returns the HCP Packer registry metadata artifact a hands to Packer, as
// Packer reads it when a template has an hcp_packer_registry block: the artifact is served
// over the SDK's plugin RPC (msgpack, as between a plugin process and Packer), its
// State(registryimage.ArtifactStateURI) is read through the RPC client, and decoded the way
// Packer v1.16's internal/hcp/registry does (mapstructure, weakly typed, into a list).
func RegistryImages(tb testing.TB, a packersdk.Artifact) []registryimage.Image {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	clientConn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	serverConn, ok := <-accepted
	if !ok {
		tb.Fatal("accepting the RPC connection failed")
	}
	server, err := sdkrpc.NewServer(serverConn)
	if err != nil {
		tb.Fatal(err)
	}
	defer server.Close()
	if err := server.RegisterArtifact(a); err != nil {
		tb.Fatal(err)
	}
	go server.Serve()
	client, err := sdkrpc.NewClient(clientConn)
	if err != nil {
		tb.Fatal(err)
	}
	defer client.Close()
	state := client.Artifact().State(registryimage.ArtifactStateURI)
	if state == nil {
		tb.Fatalf("the artifact hands Packer no %s state", registryimage.ArtifactStateURI)
	}
	var images []registryimage.Image
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &images, WeaklyTypedInput: true})
	if err != nil {
		tb.Fatal(err)
	}
	if err := dec.Decode(state); err != nil {
		tb.Fatalf("Packer could not decode the artifact's registry metadata %#v: %v", state, err)
	}
	for _, img := range images {
		if err := img.Validate(); err != nil {
			tb.Errorf("registry image %v: %v", img, err)
		}
	}
	return images
}
