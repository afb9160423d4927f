/** The Kubernetes backend on an API server over etcd 3.6 with its default feature gates (watch-list on). */
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { endpointCases } from './endpoints.cases.js';

expectNoLeakedHandles();
endpointCases('3.6');
