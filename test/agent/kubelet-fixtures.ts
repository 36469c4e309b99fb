/**
 * kubelet's files as kubeadm and its packages write them, for the tests that read kubelet's configuration
 * (the runtime endpoint locator, the cgroup driver).
 */

/** The drop-in kubeadm's packages (pkgs.k8s.io) install. */
export const KUBEADM_DROPIN = `# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;
/** kubeadm-flags.env as `kubeadm init` and `join` write it; before NodeLocalCRISocket it carries the endpoint flag. */
export const KUBEADM_FLAGS = (endpoint?: string) => `KUBELET_KUBEADM_ARGS="${endpoint ? `--container-runtime-endpoint=${endpoint} ` : ''}--pod-infra-container-image=registry.k8s.io/pause:3.10"\n`;
/** config.yaml as kubeadm writes it (abridged); with NodeLocalCRISocket it carries the endpoint. */
export const KUBELET_CONFIG = (endpoint?: string) => `apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
${endpoint ? `containerRuntimeEndpoint: ${endpoint}\n` : ''}kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`;
/** kubeadm's instance config (NodeLocalCRISocket): the per-node part it merges into config.yaml. */
export const INSTANCE_CONFIG = (endpoint: string) => `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: ${endpoint}
`;
