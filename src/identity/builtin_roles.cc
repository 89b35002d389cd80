// Azure's built-in role definitions that cmklogs honours, with Azure's own ids and permission
// lists (Microsoft's "Azure built-in roles" reference), so scripts written for Azure work as is.
#include "base/encoding.h"
#include "identity/rbac.h"

namespace cmk::identity {

const std::vector<RoleDefinition>& BuiltInRoleDefinitions() {
  static const std::vector<std::string> kKeyVaultActions = {
      "Microsoft.Authorization/*/read",
      "Microsoft.Insights/alertRules/*",
      "Microsoft.Resources/deployments/*",
      "Microsoft.Resources/subscriptions/resourceGroups/read",
      "Microsoft.Support/*",
      "Microsoft.KeyVault/checkNameAvailability/read",
      "Microsoft.KeyVault/deletedVaults/read",
      "Microsoft.KeyVault/locations/*/read",
      "Microsoft.KeyVault/vaults/*/read",
      "Microsoft.KeyVault/operations/read"};
  static const std::vector<RoleDefinition> kRoles = {
      {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner",
       "Grants full access to manage all resources, including the ability to assign roles in "
       "Azure RBAC.",
       {"*"}, {}, {}, {}},
      {"b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor",
       "Grants full access to manage all resources, but does not allow you to assign roles in "
       "Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
       {"*"},
       {"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
        "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete",
        "Microsoft.Compute/galleries/share/action", "Microsoft.Purview/consents/write",
        "Microsoft.Purview/consents/delete",
        "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
        "Microsoft.Subscription/cancel/action", "Microsoft.Subscription/enable/action"},
       {}, {}},
      {"acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader",
       "View all resources, but does not allow you to make any changes.", {"*/read"}, {}, {}, {}},
      {"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator",
       "Lets you manage user access to Azure resources.",
       {"*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"}, {}, {}, {}},
      // Storage data roles (Blob and Table data planes, storage_account/storage_auth.h).
      {"ba92f5b4-2d11-453d-a403-e96b0029c9fe", "Storage Blob Data Contributor",
       "Read, write, and delete Azure Storage containers and blobs.",
       {"Microsoft.Storage/storageAccounts/blobServices/containers/delete",
        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/write",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"},
       {},
       {"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action"},
       {}},
      {"2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "Storage Blob Data Reader",
       "Read and list Azure Storage containers and blobs.",
       {"Microsoft.Storage/storageAccounts/blobServices/containers/read",
        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"},
       {},
       {"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"},
       {}},
      {"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", "Storage Table Data Contributor",
       "Allows for read, write and delete access to Azure Storage tables and entities",
       {"Microsoft.Storage/storageAccounts/tableServices/tables/read",
        "Microsoft.Storage/storageAccounts/tableServices/tables/write",
        "Microsoft.Storage/storageAccounts/tableServices/tables/delete"},
       {},
       {"Microsoft.Storage/storageAccounts/tableServices/tables/entities/read",
        "Microsoft.Storage/storageAccounts/tableServices/tables/entities/write",
        "Microsoft.Storage/storageAccounts/tableServices/tables/entities/delete",
        "Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action",
        "Microsoft.Storage/storageAccounts/tableServices/tables/entities/update/action"},
       {}},
      {"76199698-9eea-4c19-bc75-cec21354c6b6", "Storage Table Data Reader",
       "Allows for read access to Azure Storage tables and entities",
       {"Microsoft.Storage/storageAccounts/tableServices/tables/read"},
       {},
       {"Microsoft.Storage/storageAccounts/tableServices/tables/entities/read"},
       {}},
      {"92aaf0da-9dab-42b6-94a3-d43ce8d16293", "Log Analytics Contributor",
       "Log Analytics Contributor can read all monitoring data and edit monitoring settings. "
       "Editing monitoring settings includes adding the VM extension to VMs; reading storage "
       "account keys to be able to configure collection of logs from Azure Storage; adding "
       "solutions; and configuring Azure diagnostics on all Azure resources.",
       {"*/read", "Microsoft.ClassicCompute/virtualMachines/extensions/*",
        "Microsoft.ClassicStorage/storageAccounts/listKeys/action",
        "Microsoft.Compute/virtualMachines/extensions/*",
        "Microsoft.HybridCompute/machines/extensions/write", "Microsoft.Insights/alertRules/*",
        "Microsoft.Insights/diagnosticSettings/*", "Microsoft.OperationalInsights/*",
        "Microsoft.OperationsManagement/*", "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourcegroups/deployments/*",
        "Microsoft.Storage/storageAccounts/listKeys/action", "Microsoft.Support/*"},
       {}, {}, {}},
      {"73c42c96-874c-492b-b04d-ab87d138a893", "Log Analytics Reader",
       "Log Analytics Reader can view and search all monitoring data as well as and view "
       "monitoring settings, including viewing the configuration of Azure diagnostics on all "
       "Azure resources.",
       {"*/read", "Microsoft.OperationalInsights/workspaces/analytics/query/action",
        "Microsoft.OperationalInsights/workspaces/search/action", "Microsoft.Support/*"},
       {"Microsoft.OperationalInsights/workspaces/sharedKeys/read"}, {}, {}},
      {"00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator",
       "Perform all data plane operations on a key vault and all objects in it, including "
       "certificates, keys, and secrets. Cannot manage key vault resources or manage role "
       "assignments. Only works for key vaults that use the 'Azure role-based access control' "
       "permission model.",
       kKeyVaultActions, {}, {"Microsoft.KeyVault/vaults/*"}, {}},
      {"14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "Key Vault Crypto Officer",
       "Perform any action on the keys of a key vault, except manage permissions. Only works for "
       "key vaults that use the 'Azure role-based access control' permission model.",
       kKeyVaultActions, {},
       {"Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"}, {}},
      {"e147488a-f6f5-4113-8e2d-b22465e65bf6", "Key Vault Crypto Service Encryption User",
       "Read metadata of keys and perform wrap/unwrap operations. Only works for key vaults that "
       "use the 'Azure role-based access control' permission model.",
       {"Microsoft.EventGrid/eventSubscriptions/write", "Microsoft.EventGrid/eventSubscriptions/read",
        "Microsoft.EventGrid/eventSubscriptions/delete"},
       {},
       {"Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/wrap/action",
        "Microsoft.KeyVault/vaults/keys/unwrap/action"},
       {}},
      {"21090545-7ca7-4776-b22c-e363652d74d2", "Key Vault Reader",
       "Read metadata of key vaults and its certificates, keys, and secrets. Cannot read "
       "sensitive values such as secret contents or key material. Only works for key vaults that "
       "use the 'Azure role-based access control' permission model.",
       kKeyVaultActions, {},
       {"Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"},
       {}},
      {"3913510d-42f4-4e42-8a64-420c390055eb", "Monitoring Metrics Publisher",
       "Enables publishing metrics against Azure resources",
       {"Microsoft.Insights/Register/Action", "Microsoft.Support/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read"},
       {},
       {"Microsoft.Insights/Metrics/Write", "Microsoft.Insights/Telemetry/Write"},
       {}},
      // Customer Lockbox approvers of a subscription's requests (control/lockbox.h).
      {"4dae6930-7baf-46f5-909e-0383bc931c46", "Azure Customer Lockbox Approver for Subscription",
       "Can approve Microsoft support requests to access specific resources contained within a "
       "subscription, even when Customer Lockbox is enabled at the tenant level.",
       {"Microsoft.Resources/subscriptions/read", "Microsoft.CustomerLockbox/requests/UpdateApproval/action",
        "Microsoft.CustomerLockbox/requests/read", "Microsoft.Authorization/*/read",
        "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Insights/eventtypes/values/read"},
       {},
       {},
       {}},
  };
  return kRoles;
}

const RoleDefinition* FindRoleDefinition(std::string_view id_or_name) {
  for (const auto& r : BuiltInRoleDefinitions()) {
    if (EqualsIgnoreCase(r.id, id_or_name) || EqualsIgnoreCase(r.role_name, id_or_name)) return &r;
  }
  return nullptr;
}

}  // namespace cmk::identity
