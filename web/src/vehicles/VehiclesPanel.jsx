import { useApp, useTopic } from '../store/context.js';
import VehicleList from './VehicleList.jsx';
import VehicleDetail from './VehicleDetail.jsx';

export default function VehiclesPanel() {
  const { store } = useApp();
  useTopic('ui');
  const selected = store.ui().selectedId;
  return (
    <div className="vehicles-panel">
      <VehicleList />
      {selected && <VehicleDetail id={selected} />}
    </div>
  );
}
