"""Real message families -> reason codes, through the default rules.

Each text is the shape the named component prints (kubelet, scheduler, containerd,
CRI-O, CNI plugins, registries, CSI drivers, controllers); ids shortened.
"""

from __future__ import annotations

import pytest

from analyzer.lifecycle.facts import Signal, strip_combined
from analyzer.lifecycle.pods import first_match

IMG = "registry.example.com/shop/web:1.4.2"
CASES = [
    # --- image: user -----------------------------------------------------------------------------
    (
        "waiting",
        "InvalidImageName",
        'Failed to apply default image tag "Shop/Web": couldn\'t parse image name "Shop/Web": invalid reference format: repository name must be lowercase',
        True,
        "InvalidImage",
    ),
    (
        "event",
        "ErrImageNeverPull",
        f'Container image "{IMG}" is not present with pull policy of Never',
        True,
        "InvalidImage",
    ),
    (
        "event",
        "Failed",
        f'Failed to pull image "{IMG}": rpc error: code = NotFound desc = failed to pull and unpack image "{IMG}": failed to resolve reference "{IMG}": {IMG}: not found',
        True,
        "ImageNotFound",
    ),
    (
        "event",
        "Failed",
        'Failed to pull image "gcr.io/p/app:v9": rpc error: code = Unknown desc = Error response from daemon: manifest for gcr.io/p/app:v9 not found: manifest unknown: Failed to fetch "v9"',
        True,
        "ImageNotFound",
    ),
    (
        "waiting",
        "ErrImagePull",
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{IMG}": failed to resolve reference "{IMG}": {IMG}: not found',
        True,
        "ImageNotFound",
    ),
    (
        "event",
        "Failed",
        'Failed to pull image "private/api:2": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/private/api:2": failed to resolve reference "docker.io/private/api:2": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed',
        True,
        "ImageAuthFailed",
    ),
    (
        "event",
        "Failed",
        'Failed to pull image "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:2": rpc error: code = Unknown desc = failed to pull and unpack image: failed to resolve reference: unexpected status from HEAD request to https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/v2/api/manifests/2: 403 Forbidden',
        True,
        "ImageAuthFailed",
    ),
    (
        "event",
        "Failed",
        'Failed to pull image "quay.io/org/app:1": rpc error: code = Unknown desc = Error reading manifest 1 in quay.io/org/app: unauthorized: access to the requested resource is not authorized',
        True,
        "ImageAuthFailed",
    ),
    # --- image: platform ------------------------------------------------------------------------------
    (
        "event",
        "Failed",
        f'Failed to pull image "{IMG}": rpc error: code = Unknown desc = failed to pull and unpack image "{IMG}": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry.example.com/v2/shop/web/blobs/sha256:ab12: 503 Service Unavailable',
        True,
        "ImagePullError",
    ),
    (
        "event",
        "Failed",
        'Failed to pull image "nginx:1.25": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/nginx:1.25": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:1f: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit',
        True,
        "ImagePullError",
    ),
    (
        "event",
        "Failed",
        f'Failed to pull image "{IMG}": rpc error: code = Unknown desc = failed to pull and unpack image "{IMG}": failed to extract layer sha256:9f: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/71/fs/usr/lib/libLLVM.so: no space left on device: unknown',
        True,
        "ImagePullError",
    ),
    (
        "event",
        "Failed",
        f'Failed to pull image "{IMG}": rpc error: code = DeadlineExceeded desc = context deadline exceeded',
        True,
        "ImagePullError",
    ),
    (
        "event",
        "Failed",
        f'Failed to pull image "{IMG}": rpc error: code = Unknown desc = failed to pull and unpack image "{IMG}": failed to resolve reference "{IMG}": failed to do request: Head "https://registry.example.com/v2/shop/web/manifests/1.4.2": dial tcp: lookup registry.example.com on 10.96.0.10:53: no such host',
        True,
        "ImagePullError",
    ),
    # --- container config: user ------------------------------------------------------------------------
    ("waiting", "CreateContainerConfigError", 'secret "db-password" not found', True, "ContainerConfigError"),
    (
        "waiting",
        "CreateContainerConfigError",
        "couldn't find key LOG_LEVEL in ConfigMap default/web-config",
        True,
        "ContainerConfigError",
    ),
    ("event", "Failed", 'Error: configmap "web-config" not found', True, "ContainerConfigError"),
    (
        "terminated",
        "StartError",
        'exit code 128: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app/serve": stat /app/serve: no such file or directory: unknown',
        True,
        "ContainerConfigError",
    ),
    (
        "waiting",
        "RunContainerError",
        'failed to start containerd task "app": OCI runtime start failed: exec: "python4": executable file not found in $PATH: unknown',
        True,
        "ContainerConfigError",
    ),
    # --- volumes ---------------------------------------------------------------------------------------
    (
        "event",
        "FailedMount",
        'MountVolume.SetUp failed for volume "tls" : secret "web-tls" not found',
        True,
        "VolumeConfigError",
    ),
    (
        "event",
        "FailedScheduling",
        '0/3 nodes are available: persistentvolumeclaim "data-db-0" not found. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
        True,
        "VolumeConfigError",
    ),
    (
        "event",
        "FailedAttachVolume",
        'Multi-Attach error for volume "pvc-6a1c" Volume is already exclusively attached to one node and can\'t be attached to another',
        True,
        "VolumeAttachFailed",
    ),
    (
        "event",
        "FailedMount",
        'MountVolume.MountDevice failed for volume "pvc-6a1c" : rpc error: code = Internal desc = mount failed: exit status 32',
        True,
        "VolumeAttachFailed",
    ),
    # the user's own volume spec, in the forms the kubelet prints (review: all blamed on the platform before)
    (
        "event",
        "FailedMount",
        'MountVolume.SetUp failed for volume "docker-lib" : hostPath type check failed: /var/lib/docker is not a directory',
        True,
        "VolumeConfigError",
    ),
    (
        "event",
        "FailedMount",
        'MountVolume.SetUp failed for volume "docker-sock" : hostPath type check failed: /var/run/docker.sock is not a socket file',
        True,
        "VolumeConfigError",
    ),
    (
        "event",
        "FailedMount",
        'MountVolume.SetUp failed for volume "tls" : secrets "web-tls" not found',
        True,
        "VolumeConfigError",
    ),
    (
        "event",
        "FailedMount",
        'MountVolume.SetUp failed for volume "cfg" : configmaps "web-config" not found',
        True,
        "VolumeConfigError",
    ),
    (
        "event",
        "FailedMount",
        'MountVolume.SetUp failed for volume "nfs" : mount failed: exit status 32 Mounting command: mount Mounting arguments: -t nfs 10.0.0.5:/exports/typo /var/lib/kubelet/pods/5c1e/volumes/kubernetes.io~nfs/nfs Output: mount.nfs: access denied by server while mounting 10.0.0.5:/exports/typo',
        True,
        "VolumeConfigError",
    ),
    (
        "event",
        "FailedMount",
        'MountVolume.SetUp failed for volume "nfs" : mount failed: exit status 32 Mounting command: mount Mounting arguments: -t nfs 10.0.0.5:/exports/typo /var/lib/kubelet/pods/5c1e/volumes/kubernetes.io~nfs/nfs Output: mount.nfs: mounting 10.0.0.5:/exports/typo failed, reason given by server: No such file or directory',
        True,
        "VolumeConfigError",
    ),
    (
        "event",
        "Failed",
        'Error: failed to prepare subPath for volumeMount "cfg" of container "app"',
        True,
        "ContainerConfigError",
    ),
    # ...and the platform's storage stays the platform's
    (
        "event",
        "FailedMount",
        'MountVolume.WaitForAttach failed for volume "pvc-6a1c" : watch error:unknown (get volumeattachments.storage.k8s.io) for volume vol-0a',
        True,
        "VolumeAttachFailed",
    ),
    (
        "event",
        "FailedMount",
        'MountVolume.MountDevice failed for volume "pvc-6a1c" : kubernetes.io/csi: attacher.MountDevice failed to create newCsiDriverClient: driver name ebs.csi.aws.com not found in the list of registered CSI drivers',
        True,
        "VolumeAttachFailed",
    ),
    # "no such image or tag", every form
    (
        "event",
        "Failed",
        'Failed to pull image "registry.example.com/shop/web:9.9": rpc error: code = Unknown desc = failed to pull and unpack image "registry.example.com/shop/web:9.9": failed to resolve reference "registry.example.com/shop/web:9.9": unexpected status from HEAD request to https://registry.example.com/v2/shop/web/manifests/9.9: 404 Not Found',
        True,
        "ImageNotFound",
    ),
    (
        "event",
        "Failed",
        'Failed to pull image "nginx:1.99": rpc error: code = Unknown desc = Error response from daemon: manifest for nginx:1.99 not found: manifest unknown: manifest unknown',
        True,
        "ImageNotFound",
    ),
    (
        "waiting",
        "ErrImagePull",
        'failed to pull and unpack image "docker.io/library/nginx:1.99": failed to resolve reference "docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found',
        True,
        "ImageNotFound",
    ),
    (
        "event",
        "Failed",
        'Failed to pull image "registry.example.com/shop/web:1": rpc error: code = Unknown desc = failed to pull and unpack image: failed to copy: httpReadSeeker: failed open: unexpected status code https://registry.example.com/v2/shop/web/blobs/sha256:ab: 404 Not Found',
        True,
        "ImagePullError",
    ),
    # a command missing from the image: ContainerConfigError, whatever state shows it
    (
        "terminated",
        "StartError",
        'exit code 128: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "serve": executable file not found in $PATH: unknown',
        True,
        "ContainerConfigError",
    ),
    (
        "event",
        "Failed",
        "Error: container create failed: executable file `serve` not found in $PATH: No such file or directory",
        True,
        "ContainerConfigError",
    ),
    (
        "event",
        "Failed",
        'Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app/serve": stat /app/serve: no such file or directory',
        True,
        "ContainerConfigError",
    ),
    # a node NotReady because its network plugin is not up points at the CNI
    (
        "derived",
        "NodeNotReady",
        "node node-2 Ready=False since 2026-03-02T10:00:05.000Z (KubeletNotReady): container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        True,
        "NetworkNotReady",
    ),
    (
        "derived",
        "NodeNotReady",
        "node node-2 Ready=False since 2026-03-02T10:00:05.000Z (KubeletNotReady): container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized",
        True,
        "NetworkNotReady",
    ),
    (
        "derived",
        "NodeNotReady",
        "node node-2 Ready=Unknown since 2026-03-02T10:00:05.000Z (NodeStatusUnknown): Kubelet stopped posting node status.",
        True,
        "NodeNotReady",
    ),
    # --- sandbox and network ------------------------------------------------------------------------------
    (
        "event",
        "FailedCreatePodSandBox",
        'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "01cf": plugin type="flannel" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory',
        True,
        "SandboxCreateFailed",
    ),
    (
        "event",
        "FailedCreatePodSandBox",
        'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "9a": plugin type="cilium-cni" failed (add): unable to create endpoint: [PUT /endpoint/{id}][429] putEndpointIdTooManyRequests',
        True,
        "SandboxCreateFailed",
    ),
    (
        "event",
        "FailedCreatePodSandBox",
        'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "4b": plugin type="aws-cni" name="aws-cni" failed (add): add cmd: failed to assign an IP address to container',
        True,
        "SandboxCreateFailed",
    ),
    (
        "event",
        "FailedCreatePodSandBox",
        'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox image "registry.k8s.io/pause:3.9": failed to pull image "registry.k8s.io/pause:3.9": dial tcp 34.96.108.209:443: i/o timeout',
        True,
        "SandboxCreateFailed",
    ),
    (
        "event",
        "FailedCreatePodSandBox",
        'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "7": plugin type="calico" failed (add): stat /var/lib/calico/nodename: no such file or directory: check that the calico/node container is running and has mounted /var/lib/calico/',
        True,
        "SandboxCreateFailed",
    ),
    (
        "event",
        "NetworkNotReady",
        "network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        True,
        "NetworkNotReady",
    ),
    # --- scheduling ----------------------------------------------------------------------------------------
    (
        "event",
        "FailedScheduling",
        "0/5 nodes are available: 2 Insufficient cpu, 3 Insufficient memory. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod.",
        True,
        "InsufficientCapacity",
    ),
    (
        "event",
        "FailedScheduling",
        "0/5 nodes are available: 2 Insufficient cpu, 3 Insufficient memory. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod.",
        False,
        "Unschedulable",
    ),
    (
        "event",
        "FailedScheduling",
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Too many pods. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod.",
        True,
        "InsufficientCapacity",
    ),
    (
        "condition",
        "PodScheduled/Unschedulable",
        "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        True,
        "Unschedulable",
    ),
    (
        "event",
        "FailedScheduling",
        "0/6 nodes are available: 6 node(s) didn't match pod anti-affinity rules. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.",
        True,
        "Unschedulable",
    ),
    ("event", "FailedScheduling", "no nodes available to schedule pods", True, "InsufficientCapacity"),
    # --- node, admission, disruption -----------------------------------------------------------------------
    (
        "status",
        "OutOfmemory",
        "Pod was rejected: Node didn't have enough resource: memory, requested: 4294967296, used: 30064771072, capacity: 33554432000",
        True,
        "AdmissionRejected",
    ),
    (
        "status",
        "UnexpectedAdmissionError",
        "Allocate failed due to requested number of devices unavailable for nvidia.com/gpu. Requested: 1, Available: 0, which is unexpected",
        True,
        "AdmissionRejected",
    ),
    (
        "event",
        "FailedCreate",
        'Error creating: Internal error occurred: failed calling webhook "mpod.kb.io": failed to call webhook: Post "https://webhook.svc:443/mutate?timeout=10s": context deadline exceeded',
        True,
        "AdmissionRejected",
    ),
    (
        "event",
        "FailedCreate",
        'Error creating: pods "w-1" is forbidden: maximum cpu usage per Container is 2, but limit is 4',
        True,
        "QuotaExceeded",
    ),
    (
        "condition",
        "DisruptionTarget/DeletionByTaintManager",
        "Taint manager: deleting due to NoExecute taint",
        True,
        "NodeNotReady",
    ),
    (
        "status",
        "Evicted",
        "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ",
        True,
        "Evicted",
    ),
    ("event", "Preempted", "Preempted by pod 5c1e0b7e-1d7c-4d52-9d45-2f0a5d3e8b11 on node node-7", True, "Preempted"),
    # --- runtime and app -----------------------------------------------------------------------------------
    ("event", "Failed", "Error: context deadline exceeded", True, "RuntimeError"),
    (
        "waiting",
        "CreateContainerError",
        "failed to get sandbox container task: no running task found: task 3fa not found: not found",
        True,
        "RuntimeError",
    ),
    ("terminated", "OOMKilled", "exit code 137", True, "AppOOM"),
    (
        "waiting",
        "CrashLoopBackOff",
        "back-off 5m0s restarting failed container=app pod=web-0_default(5c1e)",
        True,
        "AppCrash",
    ),
    (
        "event",
        "Unhealthy",
        'Liveness probe failed: Get "http://10.244.1.7:8080/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
        True,
        "AppCrash",
    ),
    (
        "event",
        "Unhealthy",
        'Readiness probe failed: Get "http://10.244.1.7:8080/ready": dial tcp 10.244.1.7:8080: connect: connection refused',
        True,
        "ReadinessProbeFailed",
    ),
    (
        "event",
        "Unhealthy",
        "Startup probe failed: HTTP probe failed with statuscode: 500",
        True,
        "ReadinessProbeFailed",
    ),
    # --- Kubernetes 1.27-1.34 -------------------------------------------------------------------
    # image policy (kubelet since 1.28, CRI-O): the user's image, not the registry
    (
        "waiting",
        "SignatureValidationFailed",
        f"image pull failed for {IMG} because the signature validation failed: Source image rejected: "
        "A signature was required, but no signature exists",
        True,
        "ImagePolicyRejected",
    ),
    (
        "event",
        "Failed",
        f'Failed to pull image "{IMG}": SignatureValidationFailed: Source image rejected: Running image '
        f"docker://{IMG} is rejected by policy.",
        True,
        "ImagePolicyRejected",
    ),
    # the kubelet's own caches and informers, not the pod spec: the platform's
    (
        "waiting",
        "CreateContainerConfigError",
        "failed to sync configmap cache: timed out waiting for the condition",
        True,
        "KubeletNotSynced",
    ),
    (
        "event",
        "Failed",
        'Error: object "shop"/"web-config" not registered',
        True,
        "KubeletNotSynced",
    ),
    (
        "event",
        "Failed",
        "Error: services have not yet been read at least once, cannot construct envvars",
        True,
        "KubeletNotSynced",
    ),
    (
        "waiting",
        "CreateContainerConfigError",
        'secret "db-password" not found',
        True,
        "ContainerConfigError",
    ),
    # dynamic resource allocation
    (
        "event",
        "FailedPrepareDynamicResources",
        "Failed to prepare dynamic resources: prepare dynamic resources: DRA driver gpu.example.com is not registered",
        True,
        "DRADriverNotRegistered",
    ),
    (
        "event",
        "FailedPrepareDynamicResources",
        "Failed to prepare dynamic resources: prepare dynamic resources: NodePrepareResources: rpc error: "
        "code = DeadlineExceeded desc = context deadline exceeded",
        True,
        "DRAPrepareFailed",
    ),
]


@pytest.mark.parametrize("source,reason,message,fits,code", CASES, ids=[f"{i}-{c[4]}" for i, c in enumerate(CASES)])
def test_message_family(rules, source, reason, message, fits, code):
    found = first_match(rules.reasons, [Signal(source, reason, message, 0)], fits)
    assert found is not None and found.rule.code == code, found and found.rule.id


STUCK = [
    (
        "event",
        "FailedKillPod",
        'error killing pod: failed to "KillContainer" for "app" with KillContainerError: "rpc error: code = DeadlineExceeded desc = context deadline exceeded"',
        "KubeletNotConfirming",
    ),
    (
        "event",
        "ExceededGracePeriod",
        "Container runtime did not kill the pod within specified grace period.",
        "KubeletNotConfirming",
    ),
    (
        "event",
        "FailedPreStopHook",
        "PreStopHook failed: command '/bin/sh -c sleep 3600' exited with 137: ",
        "PreStopHang",
    ),
    (
        "event",
        "FailedUnMount",
        'UnmountVolume.TearDown failed for volume "data" (UniqueName: "kubernetes.io/csi/ebs.csi.aws.com^vol-0a") pod "5c1e" (UID: "5c1e") : kubernetes.io/csi: Unmounter.TearDownAt failed: rpc error: code = Internal desc = unmount failed: exit status 32',
        "VolumeDetach",
    ),
    (
        "event",
        "FailedDetachVolume",
        'DetachVolume.Detach failed for volume "pvc-6a1c" : rpc error: code = Internal desc = Could not detach volume "vol-0a" from node "i-0b"',
        "VolumeDetach",
    ),
    (
        "log",
        "kubelet",
        "Unprepare dynamic resources failed: NodeUnprepareResources failed for claim shop/gpu-claim: "
        "rpc error: code = Unavailable desc = connection error",
        "DRAUnprepareFailed",
    ),
]


@pytest.mark.parametrize("source,reason,message,code", STUCK, ids=[c[3] + str(i) for i, c in enumerate(STUCK)])
def test_stuck_message_family(rules, source, reason, message, code):
    found = first_match(rules.stuck, [Signal(source, reason, message, 0)], True)
    assert found is not None and found.rule.code == code


def test_correlator_prefix_is_stripped():
    assert strip_combined("(combined from similar events): Readiness probe failed: x") == "Readiness probe failed: x"
    assert strip_combined("Readiness probe failed: x") == "Readiness probe failed: x"
