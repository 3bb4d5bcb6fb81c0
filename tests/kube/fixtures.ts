/** Kubeconfig fixtures shared by the kube tests. */

/** A kubeconfig as `gcloud container clusters get-credentials` writes it, with hand comments. */
export const GKE_KUBECONFIG = `# head comment
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tQ0E= # the CA
    server: https://34.1.2.3
  name: gke_proj_zone_one
contexts:
- context:
    cluster: gke_proj_zone_one
    user: gke_proj_zone_one
  name: gke_proj_zone_one
current-context: gke_proj_zone_one
kind: Config
preferences: {}
users:
# the GKE user
- name: gke_proj_zone_one
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      env:
      - name: CLOUDSDK_CORE_PROJECT
        value: proj
      installHint: Install gke-gcloud-auth-plugin for use with kubectl by following
        https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin
      provideClusterInfo: true
      interactiveMode: IfAvailable
- name: static-user
  user:
    token: kubernetes-static-token # keep me
- name: gke_proj_zone_two
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /usr/lib/google-cloud-sdk/bin/gke-gcloud-auth-plugin
      args: ["--use_application_default_credentials"]
      provideClusterInfo: true
- name: other-exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token]
`;
